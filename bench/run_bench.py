"""Benchmark: N simulated phones through the survey over the real webhook path, compared with a
stock `rasa init` bot's REST channel under the same load, in the same run.

    .venv/bin/python bench/run_bench.py --phones 16 --turns 14

Prints messages per second, webhook acknowledgement p50/p95/p99, inbound-to-reply-sent
p50/p95/p99 (from the webhook POST to the reply arriving at the fake Twilio API), peak resident
memory of the app and of its Rasa server, and the stock bot's throughput as a ratio.
Everything runs on loopback: the app with its own Rasa, a fake Twilio REST API in this process.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.e2e.harness import (  # noqa: E402
    ACCOUNT_SID,
    AUTH_TOKEN,
    AppProcess,
    Phone,
    app_env,
    free_port,
)
from tests.fakes.twilio_api import FakeTwilio  # noqa: E402

RASA = ROOT / ".venv-rasa" / "bin" / "rasa"


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time the processes have used so far (all their threads)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
        except (OSError, IndexError, ValueError):
            pass
    return total / os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    kids = [int(p) for p in out.stdout.split()]
    return kids + [d for k in kids for d in descendants(k)]


class MemorySampler(threading.Thread):
    """Samples the RSS of named process groups every 100 ms; keeps each group's peak."""

    def __init__(self, groups: dict[str, list[int]]) -> None:
        super().__init__(daemon=True)
        self.groups = groups
        self.peak = dict.fromkeys(groups, 0.0)
        self.peak_total = 0.0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            total = 0.0
            for name, pids in self.groups.items():
                value = sum(rss_mb(p) for p in pids)
                self.peak[name] = max(self.peak[name], value)
                total += value
            self.peak_total = max(self.peak_total, total)
            time.sleep(0.1)

    def stop(self) -> None:
        self._halt.set()
        self.join()


def script(turns: int) -> list[str]:
    """What each phone sends: a greeting, consent, then answers ("1" fits every question type
    the bot asks, or is asked again once and moved past), then thanks after the end."""
    return ["Hello", "yes"] + ["1"] * (turns - 2)


async def drive_bot(app_url: str, fake: FakeTwilio, phones: int, turns: int) -> dict[str, object]:
    acks: list[float] = []
    e2e: list[float] = []
    done = 0

    async def one_phone(index: int, client: httpx.AsyncClient) -> None:
        nonlocal done
        number = f"+4477009{index:05d}"
        phone = Phone(app_url, number, "sms")
        for turn, body in enumerate(script(turns)):
            seen = len(fake.messages_to(number))
            form = phone.form(body)
            url = app_url + "/webhooks/twilio/messages"
            from webhooks.signature import SIGNATURE_HEADER, sign

            headers = {SIGNATURE_HEADER: sign(AUTH_TOKEN, url, form)}
            start = time.perf_counter()
            try:
                response = await client.post(url, data=form, headers=headers)
                response.raise_for_status()
            except httpx.HTTPError as exc:
                raise RuntimeError(f"our bot, phone {index}, message {turn + 1} ({body!r}): "
                                   f"{type(exc).__name__} {exc}") from exc
            acks.append(time.perf_counter() - start)
            arrived = await asyncio.to_thread(fake.wait_for_new, number, seen, 30.0)
            if arrived is None:
                raise RuntimeError(f"phone {index}: no reply to {body!r}")
            e2e.append(arrived - start)
            done += 1

    limits = httpx.Limits(max_connections=phones + 4)
    async with httpx.AsyncClient(timeout=30.0, limits=limits) as client:
        start = time.perf_counter()
        await asyncio.gather(*(one_phone(i, client) for i in range(phones)))
        elapsed = time.perf_counter() - start
    return {"messages": done, "seconds": elapsed, "acks": acks, "e2e": e2e}


async def drive_stock(rasa_url: str, phones: int, turns: int) -> dict[str, object]:
    latencies: list[float] = []
    done = 0
    lines = ["hello", "I am sad", "yes", "bye"]

    async def one(index: int, client: httpx.AsyncClient) -> None:
        nonlocal done
        sender = f"stock-{index}-{uuid.uuid4().hex[:6]}"
        for turn in range(turns):
            start = time.perf_counter()
            try:
                r = await client.post(f"{rasa_url}/webhooks/rest/webhook",
                                      json={"sender": sender, "message": lines[turn % len(lines)]})
                r.raise_for_status()
            except httpx.HTTPError as exc:
                raise RuntimeError(f"stock bot, phone {index}, message {turn + 1}: "
                                   f"{type(exc).__name__} {exc}") from exc
            latencies.append(time.perf_counter() - start)
            done += 1

    async with httpx.AsyncClient(timeout=60.0, limits=httpx.Limits(max_connections=phones + 4)) as c:
        start = time.perf_counter()
        await asyncio.gather(*(one(i, c) for i in range(phones)))
        elapsed = time.perf_counter() - start
    return {"messages": done, "seconds": elapsed, "latency": latencies}


def wait_http(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} not ready after {timeout}s")


def stock_rasa(workdir: Path, phones: int, turns: int) -> tuple[dict[str, object], float]:
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "3"}
    print("[bench] training a stock `rasa init` bot (default pipeline)...", flush=True)
    subprocess.run([str(RASA), "init", "--no-prompt", "--init-dir", str(workdir)], cwd=workdir,
                   env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    port = free_port()
    proc = subprocess.Popen([str(RASA), "run", "--enable-api", "-i", "127.0.0.1", "-p", str(port)],
                            cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/status", 180)
        asyncio.run(drive_stock(url, 2, 4))  # warm-up
        sampler = MemorySampler({"rasa": [proc.pid]})
        sampler.start()
        result = asyncio.run(drive_stock(url, phones, turns))
        sampler.stop()
        return result, sampler.peak["rasa"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--phones", type=int, default=16, help="simulated phones (default 16)")
    parser.add_argument("--turns", type=int, default=14, help="messages each phone sends (default 14)")
    parser.add_argument("--skip-stock", action="store_true", help="do not run the stock Rasa comparison")
    parser.add_argument("--database-url", help="run the bot on this database (default: a new SQLite file)")
    args = parser.parse_args()

    subprocess.run([str(ROOT / ".venv/bin/listening-bot"), "train"], check=True)
    tmp = Path(tempfile.mkdtemp(prefix="listening-bench-"))
    port = free_port()
    with FakeTwilio(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN) as fake:
        env = app_env(tmp, port, args.database_url or f"sqlite:///{tmp / 'bench.db'}", fake.url, "")
        env.update(RASA_PORT=str(free_port()), LOG_LEVEL="WARNING", WORKER_POLL_SECONDS="1")
        app = AppProcess(env, port, tmp / "app.log")
        print("[bench] starting the bot (app + its Rasa server)...", flush=True)
        app.start(timeout=240)
        try:
            asyncio.run(drive_bot(app.url, fake, 2, 3))  # warm-up
            assert app.proc is not None
            groups = {"app": [app.proc.pid], "rasa": descendants(app.proc.pid)}
            sampler = MemorySampler(groups)
            cpu_before = {name: cpu_seconds(pids) for name, pids in groups.items()}
            sampler.start()
            print(f"[bench] {args.phones} phones x {args.turns} messages through the bot...", flush=True)
            ours = asyncio.run(drive_bot(app.url, fake, args.phones, args.turns))
            sampler.stop()
            cpu = {name: cpu_seconds(pids) - cpu_before[name] for name, pids in groups.items()}
        finally:
            app.stop()
    shutil.rmtree(tmp, ignore_errors=True)

    rate = ours["messages"] / ours["seconds"]
    acks = [a * 1000 for a in ours["acks"]]
    e2e = [e * 1000 for e in ours["e2e"]]
    print()
    print(f"Listening Bot, {args.phones} phones x {args.turns} messages, {os.cpu_count()} cores")
    print(f"  throughput                {rate:8.1f} msg/s  ({ours['messages']} messages in {ours['seconds']:.1f} s)")
    print(f"  webhook ack   p50/p95/p99 {pct(acks, 50):6.1f} / {pct(acks, 95):6.1f} / {pct(acks, 99):6.1f} ms")
    print(f"  reply sent    p50/p95/p99 {pct(e2e, 50):6.1f} / {pct(e2e, 95):6.1f} / {pct(e2e, 99):6.1f} ms")
    print(f"  peak RSS      app {sampler.peak['app']:.0f} MB, Rasa {sampler.peak['rasa']:.0f} MB, "
          f"together {sampler.peak_total:.0f} MB")
    per_message = {name: 1000 * seconds / ours["messages"] for name, seconds in cpu.items()}
    print(f"  CPU a message app {per_message['app']:.1f} ms, Rasa {per_message['rasa']:.1f} ms "
          f"(of {ours['seconds'] * os.cpu_count() * 1000 / ours['messages']:.1f} ms of cores)")
    if args.skip_stock:
        return 0
    with tempfile.TemporaryDirectory(prefix="stock-rasa-") as workdir:
        stock, stock_rss = stock_rasa(Path(workdir), args.phones, args.turns)
    stock_rate = stock["messages"] / stock["seconds"]
    lat = [x * 1000 for x in stock["latency"]]
    print("Stock `rasa init` bot (REST channel), same load")
    print(f"  throughput                {stock_rate:8.1f} msg/s   latency p50/p95 "
          f"{pct(lat, 50):.1f} / {pct(lat, 95):.1f} ms   peak RSS {stock_rss:.0f} MB")
    print(f"  ratio (ours / stock)      {rate / stock_rate:8.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
