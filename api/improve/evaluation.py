"""Measuring a candidate against the current model: the same eval sets, through a real Rasa server, side by side.

One temporary ``rasa run --enable-api`` (api/improve/serving.py) starts with the current model; every case is sent
to deskmate's channel (``/webhooks/deskmate/parse``, the gateway's hint included) with ``RasaClient.parse`` and scored by the NLU eval (api/chat/nlu_eval.py); then the server
loads the candidate (``PUT /model``) and the same cases are sent again. Each model gets the hint it would be served
with: fitted on data/nlu plus the examples already in the promoted model for the current one, plus everything the
candidate trained on for the candidate. Sets: the held-out split of the realistic
set (data/eval/realistic, split ``test``), and the rasa-helpdesk-assistant set when it is present and
DESKMATE_IMPROVE_HELPDESK_EVAL is on.

A tracked metric is *worse* when both hold: it moved the wrong way by more than its tolerance
(DESKMATE_IMPROVE_TOLERANCE, 0.02, or one case of that metric, 1/n, whichever is larger), and the cases it lost
outnumber those it gained beyond chance (one-sided exact sign test on the changed cases, p <
DESKMATE_IMPROVE_SIGNIFICANCE, 0.05). Retraining on a few more examples moves a handful of held-out cases each way
by itself (measured: 26 of 177 realistic test cases changed, in both directions, after adding 12 unrelated
examples); the test keeps that noise from blocking a model while a real regression, which loses cases one way,
is caught.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from api.chat import nlu_eval
from api.chat.hints import Hinter
from api.chat.rasa import RasaClient
from api.improve import serving
from api.improve.models import ComparisonRow
from api.kb.embedding import get_embedder
from api.settings import REPO_ROOT, Settings

log = logging.getLogger(__name__)
REALISTIC = "realistic test"
HELPDESK = "helpdesk-assistant"
Better = Literal["higher", "lower"]
Verdict = Literal["better", "same", "worse", "not measured"]
Scored = dict[str, list[nlu_eval.Scored]]
# (set, group or None for the whole set, metric, which way is better)
TRACKED: tuple[tuple[str, str | None, str, Better], ...] = (
    (REALISTIC, "it", "as_it", "higher"),
    (REALISTIC, "it", "intent_right", "higher"),
    (REALISTIC, "non_it", "as_it", "lower"),
    (REALISTIC, "smalltalk", "as_smalltalk", "higher"),
    (HELPDESK, None, "accuracy", "higher"),
)


def eval_sets(settings: Settings, *, repo_root: Path = REPO_ROOT) -> dict[str, list[nlu_eval.Case]]:
    """The sets a candidate is compared on: the realistic held-out split, and the helpdesk-assistant set."""
    sources = nlu_eval.Sources.default(repo_root)
    sets = {REALISTIC: nlu_eval.load_realistic(sources.realistic, split="test")}
    if settings.improve_helpdesk_eval and sources.helpdesk_nlu.is_file():
        sets[HELPDESK] = nlu_eval.cases_from_examples(nlu_eval.load_examples(
            sources.helpdesk_nlu, nlu_eval.load_map(sources.helpdesk_map)))
    return sets


async def _run(client: RasaClient, sets: dict[str, list[nlu_eval.Case]]) -> Scored:
    return {name: await nlu_eval.run_cases(cases, client.parse) for name, cases in sets.items()}


def _outcome(s: nlu_eval.Scored, metric: str) -> bool | None:
    """The case's part in the metric (as in nlu_eval.group_metrics); None when the metric skips it."""
    if metric == "as_it":
        return s.predicted in nlu_eval.IT_INTENTS
    if metric == "as_smalltalk":
        return s.predicted in nlu_eval.SMALL_TALK
    return s.intent_right()  # intent_right, and a set's accuracy: the cases that name an intent


def _pairs(before: list[nlu_eval.Scored], after: list[nlu_eval.Scored], group: str | None,
           metric: str) -> list[tuple[bool, bool]]:
    """(outcome under the current model, under the candidate) for every case the metric counts."""
    pairs = []
    for b, a in zip(before, after, strict=True):
        if group is not None and b.case.group != group:
            continue
        ob, oa = _outcome(b, metric), _outcome(a, metric)
        if ob is not None and oa is not None:
            pairs.append((ob, oa))
    return pairs


def sign_test(lost: int, gained: int) -> float:
    """One-sided exact sign test (McNemar) on the cases that changed: the chance of losing at least ``lost`` of
    ``lost + gained`` changed cases if each change were a coin toss."""
    n = lost + gained
    return sum(math.comb(n, k) for k in range(lost, n + 1)) / 2 ** n if n else 1.0


def compare(baseline: Scored, candidate: Scored, *, tolerance: float, alpha: float) -> list[ComparisonRow]:
    """The comparison table: per tracked metric both values, the change, the cases lost and gained, the sign
    test's p and a verdict. Worse = dropped by more than the allowed amount AND p < ``alpha``."""
    rows = []
    for name, group, metric, better in TRACKED:
        label = f"{group}.{metric}" if group else metric
        pairs = _pairs(baseline[name], candidate[name], group, metric) if name in baseline and name in candidate else []
        n = len(pairs)
        allowed = round(max(tolerance, 1 / n if n else 0.0) + 1e-9, 4)
        if not pairs:
            rows.append(ComparisonRow(set=name, metric=label, better=better, n=0, baseline=None, candidate=None,
                                      delta=None, tolerance=allowed, lost=0, gained=0, p_value=None,
                                      verdict="not measured"))
            continue
        good = [(b, a) if better == "higher" else (not b, not a) for b, a in pairs]
        lost, gained = sum(b and not a for b, a in good), sum(a and not b for b, a in good)
        before = round(sum(b for b, _ in pairs) / n, 4)
        after = round(sum(a for _, a in pairs) / n, 4)
        delta = round(after - before, 4)
        gain = delta if better == "higher" else -delta
        p_lost, p_gained = sign_test(lost, gained), sign_test(gained, lost)
        verdict: Verdict = ("worse" if gain < -allowed and p_lost < alpha
                            else "better" if gain > allowed and p_gained < alpha else "same")
        rows.append(ComparisonRow(set=name, metric=label, better=better, n=n, baseline=before, candidate=after,
                                  delta=delta, tolerance=allowed, lost=lost, gained=gained,
                                  p_value=round(p_lost, 4), verdict=verdict))
    return rows


def changes(baseline: Scored, candidate: Scored) -> dict[str, list[dict[str, Any]]]:
    """Per set, the cases whose prediction changed: text, expected, current and candidate prediction."""
    return {name: [{"text": b.case.text, "expected": b.case.intent or b.case.group, "current": b.predicted,
                    "candidate": a.predicted} for b, a in zip(cases, candidate[name], strict=True)
                   if a.predicted != b.predicted]
            for name, cases in baseline.items() if name in candidate}


def table(rows: list[ComparisonRow]) -> str:
    """The comparison as text (the CLI and the logs)."""
    head = (f"{'set':<20} {'metric':<24} {'n':>5} {'current':>9} {'candidate':>9} {'delta':>8} {'allowed':>8} "
            f"{'lost':>5} {'gained':>6} {'p':>7}  verdict")
    lines = [head, "-" * len(head)]
    for r in rows:
        def cell(v: float | None) -> str:
            return f"{v:>9.3f}" if v is not None else f"{'-':>9}"
        delta = f"{r.delta:>+8.3f}" if r.delta is not None else f"{'-':>8}"
        p = f"{r.p_value:>7.3f}" if r.p_value is not None else f"{'-':>7}"
        lines.append(f"{r.set:<20} {r.metric:<24} {r.n:>5} {cell(r.baseline)} {cell(r.candidate)} {delta} "
                     f"{r.tolerance:>8.3f} {r.lost:>5} {r.gained:>6} {p}  {r.verdict} ({r.better} is better)")
    return "\n".join(lines)


@dataclass(frozen=True)
class Served:
    """A model as the api would serve it: the Rasa model file and the examples beyond data/nlu its hint follows."""

    model: Path
    hint_examples: list[nlu_eval.Example]


async def measure(settings: Settings, *, baseline: Served, candidate: Served, log_file: Path) -> tuple[Scored, Scored]:
    """Every case of the eval sets scored under ``baseline`` and under ``candidate``, from one temporary Rasa, each
    with the hint it would be served with."""
    sets = eval_sets(settings)
    async with serving.temporary_rasa(settings, baseline.model, log_file=log_file) as (url, token):
        log.info("improve: measuring the current model %s on %s", baseline.model.name,
                 ", ".join(f"{k} ({len(v)})" for k, v in sets.items()))
        before = await _measure_served(settings, url, token, sets, baseline)
        api = serving.ModelApi(url, token=token)
        await api.load(candidate.model)
        served = (await api.status()).get("model_file") or ""
        if Path(served).name != candidate.model.name:
            raise RuntimeError(f"the evaluation Rasa serves {served!r} after loading {candidate.model.name}")
        log.info("improve: measuring the candidate %s", candidate.model.name)
        after = await _measure_served(settings, url, token, sets, candidate)
    return before, after


async def _measure_served(settings: Settings, url: str, token: str, sets: dict[str, list[nlu_eval.Case]],
                          served: Served) -> Scored:
    """The sets through the temporary Rasa, every text with the hint ``served`` would get."""
    hinter = Hinter(get_embedder(settings), enabled=settings.nlu_hints, extra=served.hint_examples)
    client = RasaClient(url, token=token, channel_secret=token, timeout_s=settings.rasa_timeout_s, hinter=hinter)
    try:
        return await _run(client, sets)
    finally:
        await client.aclose()
