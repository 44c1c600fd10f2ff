#!/usr/bin/env bash
# Set up and run the whole test suite: unit tests, a real trained Rasa model and server, a real
# SQLite file and a real PostgreSQL server (installed and started here, stopped at the end).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh

# PostgreSQL: a throwaway cluster on a free loopback port, owned by the postgres user.
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$pg_bin" ] || [ ! -x "$pg_bin/initdb" ]; then
  echo "[test] installing PostgreSQL from Debian's packages..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi
pg_dir=$(mktemp -d /tmp/listening-pg.XXXXXX)
pg_port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
run_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown postgres "$pg_dir"
run_pg "$pg_bin/initdb" -D "$pg_dir/data" -U listening --auth=trust -E UTF8 >/dev/null
run_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/log" -w \
  -o "-p $pg_port -k $pg_dir -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
trap 'run_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate stop >/dev/null 2>&1; rm -rf "$pg_dir"' EXIT
export TEST_POSTGRES_URL="postgresql+psycopg://listening@127.0.0.1:$pg_port/postgres"
echo "[test] PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$pg_port"

# Chromium for the console's browser tests: Playwright (from PyPI) drives Debian's build.
# Never `playwright install`: it downloads a browser of its own, which fails here.
if ! command -v chromium >/dev/null 2>&1; then
  echo "[test] installing Chromium from Debian's packages..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi

# Train the Rasa model once, with progress, before the tests use it.
.venv/bin/listening-bot train

.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
