"""The pieces of a candidate's path that need no Rasa: the training project, the comparison, the current model."""

from __future__ import annotations

import yaml

from api import jobs
from api.chat import nlu_eval
from api.dev import stack
from api.improve import bot_models, evaluation, intents, service, training
from api.jobs import registry
from api.settings import Settings


def _cases() -> list[nlu_eval.Case]:
    return ([nlu_eval.Case(f"it {i}", "it", "printer_problem") for i in range(40)]
            + [nlu_eval.Case(f"non-it {i}", "non_it") for i in range(20)]
            + [nlu_eval.Case(f"small talk {i}", "smalltalk", "greet") for i in range(10)])


def _scored(predicted: list[str]) -> list[nlu_eval.Scored]:
    return [nlu_eval.Scored(case, p, 0.9, 1.0) for case, p in zip(_cases(), predicted, strict=True)]


# the current model: 30 of 40 IT cases right (10 fall back), non-IT all refused, small talk right
CURRENT = ["printer_problem"] * 30 + ["nlu_fallback"] * 10 + ["out_of_scope"] * 20 + ["greet"] * 10


def _with(changes: dict[int, str]) -> list[str]:
    return [changes.get(i, p) for i, p in enumerate(CURRENT)]


def _verdicts(candidate: list[str]) -> dict[str, evaluation.ComparisonRow]:
    rows = evaluation.compare({evaluation.REALISTIC: _scored(CURRENT)}, {evaluation.REALISTIC: _scored(candidate)},
                              tolerance=0.02, alpha=0.05)
    return {r.metric: r for r in rows}


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


def test_a_metric_is_worse_only_when_it_drops_beyond_the_tolerance_and_beyond_chance() -> None:
    # retraining noise: 4 IT cases lost, 1 gained (-0.075, but p = 0.19): not a reason to keep a model out
    noisy = _verdicts(_with({0: "nlu_fallback", 1: "nlu_fallback", 2: "greet", 3: "ask_question",
                             30: "printer_problem"}))
    row = noisy["it.intent_right"]
    assert (row.baseline, row.candidate, row.delta, row.lost, row.gained) == (0.75, 0.675, -0.075, 4, 1)
    assert row.p_value == 0.1875 and row.verdict == "same"
    assert noisy["it.as_it"].verdict == "same" and noisy["accuracy"].verdict == "not measured"
    assert service.decision(list(noisy.values()))[0] is True

    # IT problems taught as greetings: 15 lost, none gained
    harmed = _verdicts(_with({i: "greet" for i in range(15)}))
    assert harmed["it.as_it"].verdict == "worse" and harmed["it.intent_right"].verdict == "worse"
    assert harmed["it.as_it"].p_value < 0.001 and harmed["smalltalk.as_smalltalk"].verdict == "same"
    promote, why = service.decision(list(harmed.values()))
    assert promote is False and "realistic test it.as_it 0.750 -> 0.375 (allowed -0.025; 15 cases lost" in why
    assert "it.as_it" in evaluation.table(list(harmed.values()))

    better = _verdicts(_with({i: "printer_problem" for i in range(30, 40)}))
    assert better["it.intent_right"].verdict == "better" and service.decision(list(better.values()))[0] is True

    # non-IT taken as IT is lower-is-better: 8 more accepted is worse
    accepting = _verdicts(_with({i: "ask_question" for i in range(40, 48)}))
    assert accepting["non_it.as_it"].delta == 0.4 and accepting["non_it.as_it"].verdict == "worse"

    assert evaluation.sign_test(0, 0) == 1.0 and evaluation.sign_test(3, 0) == 0.125
    assert service.decision(evaluation.compare({}, {}, tolerance=0.02, alpha=0.05))[0] is False  # nothing measured


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


def test_the_worker_runs_the_loop_on_its_own_queue_nightly() -> None:
    app = jobs.make_app()
    assert "improve" in jobs.QUEUES and "api.improve.tasks" in registry.TASK_MODULES
    assert app.tasks["improve.train"].queue == "improve" and app.tasks["improve.cluster"].queue == "improve"
    periodic = [p for p in app.periodic_registry.periodic_tasks.values() if p.task.name == "improve.cluster"]
    assert [p.cron for p in periodic] == ["17 3 * * *"]


def test_a_promoted_model_goes_to_every_rasa_server_the_gateway_uses() -> None:
    def settings(**values: object) -> Settings:
        return Settings(env="test", _env_file=None, rasa_url="http://rasa-a:5005", **values)  # type: ignore[call-arg]

    assert service.reload_targets(settings()) == ["http://rasa-a:5005"]
    assert service.reload_targets(settings(rasa_urls="http://rasa-a:5005,http://rasa-b:5005")) == [
        "http://rasa-a:5005", "http://rasa-b:5005"]
    assert service.reload_targets(settings(rasa_urls="http://rasa-a:5005,http://rasa-b:5005",
                                           improve_reload_urls="http://rasa-c:5005")) == ["http://rasa-c:5005"]
