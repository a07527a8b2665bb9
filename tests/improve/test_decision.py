"""The pieces of a candidate's path that need no Rasa: the training project, the comparison, the current model."""

from __future__ import annotations

import yaml

from api.chat import nlu_eval
from api.dev import stack
from api.improve import bot_models, evaluation, intents, service, training
from api.settings import Settings


def _summary(it_as_it: float, it_n: int, intent: float, intent_n: int, non_it: float, non_it_n: int,
             small: float, small_n: int) -> dict:
    return {"accuracy": intent, "groups": {
        "it": {"n": it_n, "as_it": it_as_it, "intent_right": intent, "intent_n": intent_n},
        "non_it": {"n": non_it_n, "as_it": non_it, "intent_n": 0},
        "smalltalk": {"n": small_n, "as_smalltalk": small, "intent_n": 0}}}


def test_the_approved_examples_join_a_copy_of_the_project_as_rasa_yaml(tmp_path) -> None:
    approved = [training.Approved(1, "printer_problem", ("the plotter jams on A1: again", "# not a comment")),
                training.Approved(2, "printer_problem", ("the plotter jams on A1: again", "plotter offline")),
                training.Approved(3, "greet", ("hiya",))]
    work = training.project(tmp_path, approved)
    added = work / "data" / "nlu" / training.APPROVED_FILE
    examples = nlu_eval.load_examples(added)
    assert [(e.intent, e.text) for e in examples] == [
        ("greet", "hiya"), ("printer_problem", "the plotter jams on A1: again"),
        ("printer_problem", "# not a comment"), ("printer_problem", "plotter offline")]
    assert yaml.safe_load(added.read_text())["version"] == "3.1"
    assert (work / "bot" / "domain.yml").is_file() and (work / "data" / "stories").is_dir()
    assert len(list((work / "data" / "nlu").glob("*.yml"))) == len(list(intents.NLU_DIR.glob("*.yml"))) + 1


def test_a_metric_is_worse_only_beyond_the_tolerance_or_one_case() -> None:
    base = _summary(0.90, 100, 0.80, 50, 0.05, 40, 0.95, 40)
    same = _summary(0.89, 100, 0.79, 50, 0.075, 40, 0.925, 40)  # one case each way at most
    rows = evaluation.compare({evaluation.REALISTIC: base}, {evaluation.REALISTIC: same}, tolerance=0.02)
    verdicts = {r.metric: r.verdict for r in rows}
    assert verdicts == {"it.as_it": "same", "it.intent_right": "same", "non_it.as_it": "same",
                        "smalltalk.as_smalltalk": "same", "accuracy": "not measured"}
    assert service.decision(rows)[0] is True

    harmed = _summary(0.60, 100, 0.55, 50, 0.05, 40, 1.0, 40)
    rows = evaluation.compare({evaluation.REALISTIC: base}, {evaluation.REALISTIC: harmed}, tolerance=0.02)
    by_metric = {r.metric: r for r in rows}
    assert by_metric["it.as_it"].verdict == "worse" and by_metric["it.as_it"].delta == -0.3
    assert by_metric["smalltalk.as_smalltalk"].verdict == "better"
    promote, why = service.decision(rows)
    assert promote is False and "realistic test it.as_it 0.900 -> 0.600" in why
    assert "it.as_it" in evaluation.table(rows)

    fewer_refused = _summary(0.90, 100, 0.80, 50, 0.15, 40, 0.95, 40)  # lower is better for non-IT as IT
    rows = evaluation.compare({evaluation.REALISTIC: base}, {evaluation.REALISTIC: fewer_refused}, tolerance=0.02)
    assert {r.metric: r.verdict for r in rows}["non_it.as_it"] == "worse"
    assert service.decision(evaluation.compare({}, {}, tolerance=0.02))[0] is False  # nothing measured


def test_the_stack_starts_rasa_with_the_promoted_model_else_the_shipped_one(tmp_path) -> None:
    settings = Settings(env="test", data_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]
    assert bot_models.current_model_path(settings) == bot_models.SHIPPED_MODEL
    env = stack.process_env(settings, database_url="postgresql://x/y", tracker_url="postgresql://x/z", bot_token="t")
    assert env["DESKMATE_RASA_MODEL"] == str(bot_models.SHIPPED_MODEL)

    model = bot_models.model_path(settings, "20260101-000000-abc")
    model.parent.mkdir(parents=True)
    model.write_bytes(b"not really a model")
    bot_models.set_current(settings, "20260101-000000-abc")
    assert bot_models.current_model_path(settings) == model
    env = stack.process_env(settings, database_url="postgresql://x/y", tracker_url="postgresql://x/z", bot_token="t")
    assert env["DESKMATE_RASA_MODEL"] == str(model)

    model.unlink()  # a pointer to a missing file falls back instead of breaking the start
    assert bot_models.current_model_path(settings) == bot_models.SHIPPED_MODEL
