"""The closed loop with real Rasa: failed turns → proposal → approval → training job → comparison → promotion
into a running Rasa, and a harmful approval that is trained, measured and NOT promoted.

Three real ``rasa train`` runs with tests/improve/small_config.yml (bot/config.yml with fewer epochs; see
docs/improving.md): the baseline this test's Rasa starts with (kept in the test data dir by a hash of its
inputs, so a rerun reuses it), the good candidate and the harmful one. The "production" Rasa runs as the
Procfile runs it (SQL tracker store, deskmate's channel); the job measures on its own temporary Rasa.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from improve_support import conversation, proposal, say
from pydantic import SecretStr

from api.app import create_app
from api.auth.models import Role
from api.chat import nlu_eval
from api.chat.rasa import RasaClient
from api.dev import embedded_pg, stack
from api.improve import bot_models, intents, serving, training
from api.jobs import worker as jobs_worker
from api.settings import REPO_ROOT, Settings

TEST_DATA_DIR = Path(os.environ.get("DESKMATE_TEST_DATA_DIR", REPO_ROOT / "var" / "test"))  # as in ../conftest.py
RASA = REPO_ROOT / ".venv-rasa" / "bin" / "rasa"
SMALL_CONFIG = Path(__file__).with_name("small_config.yml")
CHANNEL_SECRET = "loop-" + os.urandom(8).hex()
RASA_DB = "deskmate_test_rasa_improve"
MODELS = TEST_DATA_DIR / "improve-models"  # the baseline, the candidates and Rasa's component cache
BASE = "/api/v1/improve"
PROBE = "the studio designjet won't feed the roll"  # the baseline: software_problem (0.60)
FAILED = ["designjet shows error 86:01 on the front panel",
          "the designjet in the studio keeps cutting the roll too early",
          "our designjet says the roll is loaded wrong",
          "designjet will not load the paper roll"]
MORE = ["the HP DesignJet shows a paper jam error", "designjet stuck halfway through a poster",
        "can't print posters, the designjet rejects the roll", "the designjet in room 2 says media mismatch",
        "designjet plots come out blank", "our designjet t650 is offline",
        "the large format designjet prints streaks", "designjet won't take A1 sheets"]

pytestmark = pytest.mark.skipif(not RASA.exists() and not os.environ.get("DESKMATE_REQUIRE_RASA"),
                                reason="no .venv-rasa (scripts/rasa_env.sh)")


def _inputs_hash() -> str:
    files = [SMALL_CONFIG, REPO_ROOT / "bot" / "domain.yml",
             *sorted(p for d in training.DATA_DIRS for p in (REPO_ROOT / d).rglob("*.yml"))]
    return hashlib.sha256(b"".join(p.read_bytes() for p in files)).hexdigest()[:10]


@dataclass
class Loop:
    settings: Settings
    rasa_url: str
    rasa_token: str
    rasa_log: Path


@pytest.fixture(scope="module")
async def baseline(settings: Settings) -> Path:
    """The model the loop starts from: the repository's training data with the small config, no approvals."""
    models = MODELS
    version = f"baseline-{_inputs_hash()}"
    model = models / f"{version}.tar.gz"
    if not model.is_file():
        loop_settings = settings.model_copy(update={"improve_models_dir": models})
        await training.train(loop_settings, version=version, approved=[], out_dir=models, config=SMALL_CONFIG)
    return model


@pytest.fixture(scope="module")
def loop(settings: Settings, pg_server: str, baseline: Path) -> Iterator[Loop]:
    """The running Rasa (started as the Procfile starts it, on the baseline) and the settings of the loop."""
    for stale in [*MODELS.glob("2*"), MODELS / bot_models.POINTER]:  # earlier runs' candidates (not the baseline,
        stale.unlink(missing_ok=True)                                # nor Rasa's component cache)
    loop_settings = settings.model_copy(update={"improve_models_dir": MODELS, "improve_train_config": SMALL_CONFIG})
    bot_models.set_current(loop_settings, baseline.name.removesuffix(".tar.gz"))
    embedded_pg.drop_database(pg_server, RASA_DB)
    embedded_pg.ensure_database(pg_server, RASA_DB)
    port, token = serving.free_port(), "loop-" + os.urandom(8).hex()
    env = {**serving.rasa_env(), **stack.rasa_tracker_env(pg_server.replace("/postgres?", f"/{RASA_DB}?")),
           "DESKMATE_RASA_CHANNEL_SECRET": CHANNEL_SECRET, "DESKMATE_ACTIONS_SECRET": "unused",
           "DESKMATE_ACTIONS_URL": f"http://127.0.0.1:{serving.free_port()}/webhook"}
    log = TEST_DATA_DIR / "logs" / "rasa-improve.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        proc = subprocess.Popen([str(RASA), "run", "--enable-api", "--auth-token", token, "--interface", "127.0.0.1",
                                 "--port", str(port), "--model", str(bot_models.current_model_path(loop_settings)),
                                 "--endpoints", "bot/endpoints.yml", "--credentials", "bot/credentials.yml"],
                                cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600
        while not _answers(f"{url}/status?token={token}"):
            assert proc.poll() is None, f"Rasa exited: {log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"Rasa did not start: {log.read_text()[-3000:]}"
            time.sleep(0.5)
        yield Loop(loop_settings.model_copy(update={"improve_reload_urls": [url], "rasa_token": SecretStr(token)}),
                   url, token, log)
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
async def api(loop: Loop) -> AsyncIterator[httpx.AsyncClient]:
    """The api with the loop's settings (its models dir, the small config, the running Rasa)."""
    application = create_app(loop.settings)
    async with LifespanManager(application) as manager:
        transport = httpx.ASGITransport(app=manager.app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=60) as client:
            yield client


async def _train_through_the_queue(api: httpx.AsyncClient, loop: Loop, admin) -> dict:
    queued = await api.post(f"{BASE}/models", headers=admin.headers)
    assert queued.status_code == 202, queued.text
    await jobs_worker.run(loop.settings, queues=["improve"], concurrency=1, wait=False)  # the worker, until done
    newest = (await api.get(f"{BASE}/models", params={"limit": 1}, headers=admin.headers)).json()[0]
    assert newest["status"] not in ("training", "evaluating", "failed"), newest
    return newest


async def test_approved_examples_are_promoted_when_not_worse_and_harmful_ones_are_not(
        api, loop, vconn, make_actor) -> None:
    admin = await make_actor(Role.admin)
    rasa = RasaClient(loop.rasa_url, token=loop.rasa_token, channel_secret=CHANNEL_SECRET)
    running = serving.ModelApi(loop.rasa_url, token=loop.rasa_token)
    before = (await rasa.parse(PROBE))["intent"]["name"]
    assert before != "printer_problem", "the probe must be something the baseline gets wrong"
    sender = f"loop-{os.urandom(4).hex()}"
    await rasa.send(sender=sender, text="hello", metadata={})

    # failed turns -> a proposal -> the admin sets the intent, adds examples and approves
    for text in FAILED:
        await say(vconn, await conversation(vconn), text, "nlu_fallback", 0.3)
    run = await api.post(f"{BASE}/runs", headers=admin.headers)
    assert run.status_code == 201, run.text
    made = [(await api.get(f"{BASE}/proposals/{i}", headers=admin.headers)).json()
            for i in run.json()["proposals_new"] + run.json()["proposals_merged"]]
    pid = next(p["id"] for p in made if set(FAILED) <= set(p["texts"]))
    edited = await api.patch(f"{BASE}/proposals/{pid}", headers=admin.headers,
                             json={"kind": "examples", "intent": "printer_problem", "examples": FAILED + MORE})
    assert edited.status_code == 200, edited.text
    assert (await api.post(f"{BASE}/proposals/{pid}/approve", headers=admin.headers)).status_code == 200

    good = await _train_through_the_queue(api, loop, admin)
    assert good["status"] == "promoted", good["decision"]
    assert good["decision"].startswith("promoted") and good["proposal_ids"] == [pid]
    # the helpdesk-assistant set lives outside the repository (../shared/eval): "not measured" in a clone without it
    verdicts = {(r["set"], r["verdict"]) for r in good["comparison"]}
    assert {v for s, v in verdicts if s == "realistic test"} <= {"same", "better"}, good["comparison"]
    assert {v for s, v in verdicts if s != "realistic test"} <= {"same", "better", "not measured"}, good["comparison"]
    assert good["reload"] == {loop.rasa_url: f"serving {good['version']}.tar.gz"}
    assert bot_models.current_version(loop.settings) == good["version"]
    assert (await running.status())["model_file"] == f"{good['version']}.tar.gz"  # hot-loaded, same process
    assert (await rasa.parse(PROBE))["intent"]["name"] == "printer_problem"
    assert (await api.get(f"{BASE}/proposals/{pid}", headers=admin.headers)).json()["status"] == "in_model"
    await rasa.send(sender=sender, text="thanks", metadata={})  # the conversation goes on under the new model
    async with httpx.AsyncClient(base_url=loop.rasa_url) as http:
        tracker = (await http.get(f"/conversations/{sender}/tracker", params={"token": loop.rasa_token})).json()
    assert [e["text"] for e in tracker["events"] if e["event"] == "user"] == ["hello", "thanks"]

    # an admin approves IT problems labelled as greetings: the bot's own IT examples, punctuated differently (the
    # tokenizer drops the "!"), so the model sees the same requests as greetings too
    it_texts = [e.text for e in intents.training_examples() if e.intent in nlu_eval.IT_INTENTS
                and e.intent not in ("ask_question", "ticket_status", "open_ticket")]
    harmful = [f"{t} !" for t in it_texts[:300]]
    assert len(harmful) == 300
    bad_ids = [await proposal(vconn, intent="greet", examples=harmful[i:i + 100]) for i in range(0, 300, 100)]
    for bad_id in bad_ids:
        assert (await api.post(f"{BASE}/proposals/{bad_id}/approve", headers=admin.headers)).status_code == 200

    worse = await _train_through_the_queue(api, loop, admin)
    assert worse["version"] != good["version"] and worse["status"] == "not_promoted"
    assert worse["baseline"] == good["version"] and sorted(worse["proposal_ids"]) == sorted([pid, *bad_ids])
    assert worse["decision"].startswith("not promoted: worse on")
    rows = {(r["set"], r["metric"]): r for r in worse["comparison"]}
    assert rows[("realistic test", "it.as_it")]["verdict"] == "worse" or \
        rows[("realistic test", "it.intent_right")]["verdict"] == "worse", worse["comparison"]
    assert (await running.status())["model_file"] == f"{good['version']}.tar.gz"  # still the good one
    assert bot_models.current_version(loop.settings) == good["version"]
    statuses = {(await api.get(f"{BASE}/proposals/{i}", headers=admin.headers)).json()["status"] for i in bad_ids}
    assert statuses == {"not_promoted"}
    refused = await api.post(f"{BASE}/models/{worse['version']}/promote", headers=admin.headers)
    assert refused.status_code == 409 and "force" in refused.json()["detail"]
    await rasa.aclose()
