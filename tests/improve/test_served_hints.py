"""The hint follows the promoted model: a candidate is measured with the hint it would be served with (no Rasa,
no training)."""

from __future__ import annotations

from contextlib import asynccontextmanager

from improve_support import proposal

from api.chat.nlu_eval import Example
from api.improve import evaluation, service, serving, training


async def _proposals(conn, by_status: dict[str, list[str]]) -> dict[str, int]:
    """Proposals of examples for printer_problem, put in the given statuses."""
    ids = {}
    for status, examples in by_status.items():
        ids[status] = await proposal(conn, examples=examples)
        await conn.execute("UPDATE improve_proposals SET status = %s WHERE id = %s", (status, ids[status]))
    return ids


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
