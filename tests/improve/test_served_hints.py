"""The hint follows the promoted model: the api reads the examples of ``in_model`` proposals, and a candidate is
measured with the hint it would be served with (no Rasa, no training)."""

from __future__ import annotations

from contextlib import asynccontextmanager, nullcontext

import psycopg_pool
from improve_support import proposal

from api.chat.nlu_eval import Example
from api.improve import evaluation, served_hints, service, serving, training


class Following:
    """Stands in for the api's Hinter: records what it is told to follow."""

    def __init__(self) -> None:
        self.extra: list[Example] | None = None

    def follow(self, extra: list[Example]) -> None:
        self.extra = list(extra)


class OneConnection:
    """A pool lending the test's connection (whose transaction is rolled back)."""

    def __init__(self, conn) -> None:
        self.conn = conn

    def connection(self, timeout: float | None = None) -> nullcontext:
        return nullcontext(self.conn)


async def _proposals(conn, by_status: dict[str, list[str]]) -> None:
    """Proposals of examples for printer_problem, put in the given statuses."""
    for status, examples in by_status.items():
        pid = await proposal(conn, examples=examples)
        await conn.execute("UPDATE improve_proposals SET status = %s WHERE id = %s", (status, pid))


async def test_the_api_follows_the_examples_in_the_promoted_model_only(vconn) -> None:
    hinter = Following()
    async with vconn.transaction(force_rollback=True):
        await _proposals(vconn, {"in_model": ["the plotter cuts the roll short", "radar maps print with streaks"],
                                 "approved": ["the label printer feeds two labels"],
                                 "not_promoted": ["the plotter is slow today"], "open": ["toner smells burnt"]})
        await served_hints.refresh(OneConnection(vconn), hinter, timeout_s=5)
    assert hinter.extra is not None
    followed = [(e.intent, e.text) for e in hinter.extra]
    assert ("printer_problem", "the plotter cuts the roll short") in followed
    assert ("printer_problem", "radar maps print with streaks") in followed
    assert not {"the label printer feeds two labels", "the plotter is slow today", "toner smells burnt"} & {
        e.text for e in hinter.extra}


async def test_a_database_that_does_not_answer_leaves_the_hints_as_they_are(caplog) -> None:
    hinter = Following()
    down = psycopg_pool.AsyncConnectionPool("host=127.0.0.1 port=1 connect_timeout=1", min_size=1, open=False)
    await down.open(wait=False)
    try:
        assert await served_hints.refresh(down, hinter, timeout_s=0.5) is None
    finally:
        await down.close()
    assert hinter.extra is None and "could not read the promoted model's examples" in caplog.text


async def test_a_candidate_is_measured_with_its_examples_and_the_current_model_with_those_in_it(
        settings, vconn, monkeypatch, tmp_path) -> None:
    measured: dict[str, evaluation.Served] = {}

    async def train(settings, *, version, approved, out_dir, config):
        model = tmp_path / f"{version}.tar.gz"
        model.write_bytes(b"")
        return model

    async def measure(settings, *, baseline, candidate, log_file):
        measured.update(baseline=baseline, candidate=candidate)
        raise RuntimeError("measured enough")

    monkeypatch.setattr(training, "train", train)
    monkeypatch.setattr(evaluation, "measure", measure)
    async with vconn.transaction(force_rollback=True):
        await _proposals(vconn, {"in_model": ["the plotter cuts the roll short"],
                                 "approved": ["the label printer feeds two labels"],
                                 "not_promoted": ["the plotter is slow today"]})
        record = await service.train_candidate(vconn, settings)
    assert record.status == "failed" and record.error == "measured enough"
    current = {e.text for e in measured["baseline"].hint_examples}
    candidate = {e.text for e in measured["candidate"].hint_examples}
    assert "the plotter cuts the roll short" in current and "the label printer feeds two labels" not in current
    assert {"the plotter cuts the roll short", "the label printer feeds two labels"} <= candidate
    assert "the plotter is slow today" not in current | candidate
    assert measured["candidate"].model.name == f"{record.version}.tar.gz"


async def test_each_model_is_measured_through_rasa_with_the_hint_it_would_be_served_with(
        settings, monkeypatch, tmp_path) -> None:
    current, candidate = tmp_path / "current.tar.gz", tmp_path / "candidate.tar.gz"
    in_model = [Example("radar maps print with streaks", "printer_problem")]
    everything = [*in_model, Example("the plotter cuts the roll short", "printer_problem")]
    serves: list[object] = []
    hinted: list[tuple[object, list[Example]]] = []

    @asynccontextmanager
    async def temporary_rasa(settings, model, *, log_file):
        serves.append(model)
        yield "http://127.0.0.1:9", "token"

    class ModelApi:
        def __init__(self, url: str, *, token: str) -> None:
            pass

        async def load(self, model) -> None:
            serves.append(model)

        async def status(self) -> dict[str, str]:
            return {"model_file": str(serves[-1])}

    async def run(client, sets):
        hinted.append((serves[-1], client.hinter.extra))
        return {}

    monkeypatch.setattr(serving, "temporary_rasa", temporary_rasa)
    monkeypatch.setattr(serving, "ModelApi", ModelApi)
    monkeypatch.setattr(evaluation, "_run", run)
    monkeypatch.setattr(evaluation, "eval_sets", lambda settings: {})
    await evaluation.measure(settings, baseline=evaluation.Served(current, in_model),
                             candidate=evaluation.Served(candidate, everything), log_file=tmp_path / "rasa.log")
    assert hinted == [(current, in_model), (candidate, everything)]
