"""Several uvicorn workers (PROMETHEUS_MULTIPROC_DIR): a scrape adds up what every worker process counted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from api.dev import stack
from api.observability import metrics
from api.settings import REPO_ROOT
from tests.conftest import free_port

WORKER = ("from api.observability import metrics\n"
          "metrics.observe_request(method='GET', route='/api/v1/tickets/{ref}', status=200, seconds=0.02)\n"
          "metrics.observe_turn(total_s=0.5, rasa_s=0.4, action_s=0.1, outcome='answered')\n")
SCRAPE = "import sys\nfrom api.observability import metrics\nsys.stdout.write(metrics.exposition().decode())\n"


def _python(code: str, directory: Path) -> str:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory), "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=120, check=True)
    return done.stdout


def test_a_scrape_adds_up_every_workers_counts(tmp_path: Path):
    for _ in range(3):  # three worker processes, each counting one request and one turn
        _python(WORKER, tmp_path)
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(_python(SCRAPE, tmp_path)) for s in family.samples}

    request = (("method", "GET"), ("route", "/api/v1/tickets/{ref}"), ("status", "200"))
    assert samples[("deskmate_http_requests_total", request)] == 3
    assert samples[("deskmate_chat_turns_total", (("outcome", "answered"),))] == 3
    assert samples[("deskmate_chat_turn_part_seconds_count", (("part", "action"),))] == 3
    assert samples[("deskmate_chat_turn_seconds_sum", ())] == 1.5


def test_prepare_workers_starts_from_an_empty_directory(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "")  # undone after the test: this process stays single-process
    directory = tmp_path / "prometheus"
    directory.mkdir()
    (directory / "counter_123.db").write_bytes(b"an earlier run")
    assert metrics.prepare_workers(directory) == directory
    assert list(directory.iterdir()) == []
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(directory)


def test_deskmate_serve_with_two_workers_counts_every_workers_requests(database_url: str, tmp_path: Path):
    """`deskmate serve --workers 2` sets up the shared directory itself: one scrape sees the requests both took."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "DESKMATE_ENV": "test", "DESKMATE_PORT": str(port),
           "DESKMATE_DATA_DIR": str(tmp_path), "DESKMATE_LOG_LEVEL": "WARNING", "DESKMATE_NLU_HINTS": "false",
           "DESKMATE_METRICS_TOKEN": "t" * 40, "PYTHONPATH": str(REPO_ROOT)}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    proc = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--workers", "2"], env=env, cwd=REPO_ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        stack.wait_until_ready(f"{base}/readyz", proc, timeout_s=300, what="the api")
        for _ in range(60):  # a new connection each: the kernel hands them to either worker
            assert httpx.get(f"{base}/healthz", headers={"Connection": "close"}).status_code == 200
        scrape = httpx.get(f"{base}/metrics", headers={"Authorization": "Bearer " + "t" * 40})
        assert scrape.status_code == 200
        families = {f.name: f for f in text_string_to_metric_families(scrape.text)}
        healthz = [s.value for s in families["deskmate_http_requests"].samples
                   if s.name.endswith("_total") and s.labels.get("route") == "/healthz"]
        assert sum(healthz) >= 60  # with one worker's registry only, a scrape sees about half
        assert len({f.name for f in (tmp_path / "prometheus" / f"serve-{port}").iterdir()}) >= 2
    finally:
        proc.terminate()
        proc.wait(30)
