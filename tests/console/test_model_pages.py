"""The console's language model page, with a real Rasa server of this module's own (its model
is swapped) and a real `Retrainer` whose sources are a copy of the project's in a temporary
folder, so the repository's nlu/ is never written: NLU examples added in the console land in
the copy, skip duplicates, keep the YAML valid, retrain the model and swap it in (the new
model knows the example); bad input is refused and kept; a failed "Retrain now" shows why
and says the old model is still in use; with an external Rasa there is nothing to retrain."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import httpx
import pytest
import yaml
from sqlalchemy import select

from bot import rasa_runtime
from bot.console.tables import AuditEntry
from bot.retrain import DONE, FAILED, Retrainer, _snapshot
from bot.settings import PROJECT_ROOT, Settings
from tests.console.conftest import ADMIN_EMAIL, OFFICER_EMAIL, Console, csrf_of
from tests.e2e.harness import free_port

EXAMPLE = "zorblax quimble"  # nonsense until the model is taught it as a greeting


@pytest.fixture(scope="module")
def rasa(rasa_model: Path, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[tuple[Settings, Path]]:
    """A Rasa server of this module's own, running a copy of the session's model."""
    folder = tmp_path_factory.mktemp("model-pages")
    settings = Settings(data_dir=folder / "data", models_dir=folder / "models",
                        port=free_port(), rasa_port=free_port(), public_base_url="",
                        action_token="unused", encryption_key="unused")
    settings.models_dir.mkdir(parents=True)
    model = settings.models_dir / rasa_model.name
    shutil.copy2(rasa_model, model)
    with rasa_runtime.RasaServer(settings, model):
        yield settings, model


def copy_sources(root: Path) -> Path:
    """The model's sources as the retrainer snapshots them, in a folder of the test's own."""
    return _snapshot(PROJECT_ROOT, root)


def repo_nlu() -> str:
    digest = hashlib.sha256()
    for path in sorted((PROJECT_ROOT / "nlu").glob("*")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


def parse(url: str, text: str) -> str:
    return httpx.post(f"{url}/model/parse", json={"text": text}, timeout=10).json()["intent"][
        "name"]


def audit_rows(console: Console, action: str) -> list[AuditEntry]:
    with console.db.read() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_officers_may_not_see_or_change_the_model(console: Console) -> None:
    officer = console.signed_in(OFFICER_EMAIL)
    csrf = csrf_of(officer.get("/console/").text)
    assert officer.get("/console/admin/model").status_code == 403
    assert officer.get("/console/admin/model/status.json").status_code == 403
    for path in ("/console/admin/model/retrain", "/console/admin/model/examples"):
        response = officer.post(path, data={"csrf_token": csrf, "intent": "greet",
                                            "language": "en", "examples": EXAMPLE})
        assert response.status_code == 403, path
    assert audit_rows(console, "retrain_requested") == []


def test_an_external_rasa_has_nothing_to_retrain(console: Console) -> None:
    admin = console.signed_in(ADMIN_EMAIL)
    page = admin.get("/console/admin/model")
    assert page.status_code == 200
    assert "does not run" in page.text and "Retrain now" not in page.text
    assert admin.get("/console/admin/model/status.json").json() == {"retrainer": False}
    refused = admin.post("/console/admin/model/retrain", data={"csrf_token": csrf_of(page.text)})
    assert refused.status_code == 409 and "RASA_URL" in refused.text
    assert audit_rows(console, "retrain_requested") == []


def test_examples_added_in_the_console_retrain_the_model(console: Console, rasa,
                                                         tmp_path: Path) -> None:
    settings, model = rasa
    sources = copy_sources(tmp_path / "project")
    retrainer = Retrainer(settings, settings.effective_rasa_url, model, root=sources)
    console.app.state.retrainer = retrainer
    repo_before = repo_nlu()
    en = sources / "nlu" / "en.yml"
    original = en.read_text(encoding="utf-8")
    assert parse(settings.effective_rasa_url, EXAMPLE) != "greet", "new to the model"

    admin = console.signed_in(ADMIN_EMAIL)
    page = unescape(admin.get("/console/admin/model").text)
    assert model.name in page and ">idle<" in page and "Retrain now" in page
    assert '<option value="ask_why">' in page and "العربية (ar)" in page
    csrf = csrf_of(page)

    # Bad input: refused, said why, what was typed kept, the file untouched.
    too_many = "\n".join(f"hello number {n}" for n in range(51))
    for intent, language, examples, error in (
        ("greet", "en", "  \n ", "at least one example"),
        ("greet", "en", too_many, "at most 50"),
        ("greet", "en", "x" * 201, "under 200"),
        ("greet", "en", "[London](place) hi", "entity markup"),
        ("no_such_intent", "en", EXAMPLE, "Choose an intent"),
        ("greet", "xx", EXAMPLE, "Choose a language"),
        ("greet", "en", f"{EXAMPLE}\nno thanks", "'no thanks' (already deny)"),
    ):
        response = admin.post("/console/admin/model/examples", data={
            "csrf_token": csrf, "intent": intent, "language": language, "examples": examples})
        shown = unescape(response.text)
        assert response.status_code == 400 and error in shown, (error, shown[-3000:])
        assert f">{examples}</textarea>" in shown, "the input is kept"
    assert en.read_text(encoding="utf-8") == original
    assert retrainer.status.state == "idle" and audit_rows(console, "nlu_examples_added") == []

    response = admin.post("/console/admin/model/examples", data={
        "csrf_token": csrf, "intent": "greet", "language": "en",
        "examples": f"- {EXAMPLE}\nhi good morning\n{EXAMPLE}\n"})
    shown = unescape(response.text)
    assert response.status_code == 200, shown[-2000:]
    assert "Added 1 example of" in shown and "skipped: <span dir=\"auto\">hi good morning" in shown
    assert "Retraining has started." in shown

    text = en.read_text(encoding="utf-8")
    assert text.count(EXAMPLE) == 1 and text.startswith(original.split("  - intent: affirm")[0])
    data = yaml.safe_load(text)
    [greet] = [i for i in data["nlu"] if i["intent"] == "greet"]
    assert f"- {EXAMPLE}\n" in greet["examples"] and "- hi good morning\n" in greet["examples"]
    assert len(data["nlu"]) == len(yaml.safe_load(original)["nlu"]), "no intent added or lost"
    assert not [p for p in en.parent.iterdir() if p.name.startswith(".")], "no temp file left"
    assert repo_nlu() == repo_before, "the repository's nlu/ is never written"
    [entry] = audit_rows(console, "nlu_examples_added")
    assert entry.target == "nlu/en.yml" and entry.detail == {
        "intent": "greet", "language": "en", "added": 1, "skipped": 2, "retrain": True}

    running = admin.get("/console/admin/model/status.json").json()
    assert running["retrainer"] and running["reason"] == (
        f"NLU examples added in the console by {ADMIN_EMAIL}")
    assert running["state"] in ("training", "loading", "done"), running
    assert 'data-running="yes"' in admin.get("/console/admin/model").text or running["state"] \
        == "done"

    status = retrainer.wait(600)
    assert status.state == DONE, (status.error, status.progress[-10:])
    done = admin.get("/console/admin/model/status.json").json()
    assert done["state"] == "done" and not done["running"] and done["model"] != model.name
    assert done["load_seconds"] is not None and done["finished_at"]
    assert done["progress"][-1].startswith(f"{done['model']} is live")
    page = unescape(admin.get("/console/admin/model").text)
    assert done["model"] in page and ">done<" in page and 'data-running="no"' in page
    assert parse(settings.effective_rasa_url, EXAMPLE) == "greet", "the new model knows it"

    again = admin.post("/console/admin/model/examples", data={
        "csrf_token": csrf, "intent": "greet", "language": "en", "examples": EXAMPLE.upper()})
    assert "Nothing new to add." in again.text and en.read_text(encoding="utf-8") == text
    assert retrainer.status.state == DONE, "nothing added: no retrain"


def test_a_failed_retrain_keeps_the_old_model_and_says_why(console: Console, rasa,
                                                           tmp_path: Path) -> None:
    settings, _ = rasa
    sources = copy_sources(tmp_path / "broken")
    en = sources / "nlu" / "en.yml"
    en.write_text(en.read_text(encoding="utf-8") + "  - intent: [broken\n", encoding="utf-8")
    running = httpx.get(f"{settings.effective_rasa_url}/status", timeout=10).json()["model_file"]
    retrainer = Retrainer(settings, settings.effective_rasa_url, Path(running), root=sources)
    console.app.state.retrainer = retrainer

    admin = console.signed_in(ADMIN_EMAIL)
    csrf = csrf_of(admin.get("/console/admin/model").text)
    response = admin.post("/console/admin/model/retrain", data={"csrf_token": csrf})
    assert response.status_code == 303
    assert response.headers["location"] == "/console/admin/model?done=retrain"
    assert retrainer.status.reason == f"asked in the console by {ADMIN_EMAIL}"
    [entry] = audit_rows(console, "retrain_requested")
    assert entry.actor == ADMIN_EMAIL

    status = retrainer.wait(300)
    assert status.state == FAILED
    page = unescape(admin.get("/console/admin/model").text)
    assert ">failed<" in page and "the old model is still in use" in page
    assert "Rasa training failed" in page
    assert Path(running).name in page, "the loaded model is still the one named"
    assert httpx.get(f"{settings.effective_rasa_url}/status", timeout=10).json()[
        "model_file"] == running
