"""Measuring a candidate against the current model: the same eval sets, through a real Rasa server, side by side.

One temporary ``rasa run --enable-api`` (api/improve/serving.py) starts with the current model; every case is sent
to ``/model/parse`` with ``RasaClient.parse`` and scored by the NLU eval (api/chat/nlu_eval.py); then the server
loads the candidate (``PUT /model``) and the same cases are sent again. Sets: the held-out split of the realistic
set (data/eval/realistic, split ``test``), and the rasa-helpdesk-assistant set when it is present and
DESKMATE_IMPROVE_HELPDESK_EVAL is on.

A tracked metric is *worse* when it moved the wrong way by more than its tolerance: DESKMATE_IMPROVE_TOLERANCE
(0.02) or one case of that metric (1/n), whichever is larger, so a single case flipping never blocks a model.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

from api.chat import nlu_eval
from api.chat.rasa import RasaClient
from api.improve import serving
from api.improve.models import ComparisonRow
from api.settings import REPO_ROOT, Settings

log = logging.getLogger(__name__)
REALISTIC = "realistic test"
HELPDESK = "helpdesk-assistant"
Better = Literal["higher", "lower"]
Verdict = Literal["better", "same", "worse", "not measured"]
# (set, group or None for the whole set, metric, which way is better, the count the metric is over)
TRACKED: tuple[tuple[str, str | None, str, Better, str], ...] = (
    (REALISTIC, "it", "as_it", "higher", "n"),
    (REALISTIC, "it", "intent_right", "higher", "intent_n"),
    (REALISTIC, "non_it", "as_it", "lower", "n"),
    (REALISTIC, "smalltalk", "as_smalltalk", "higher", "n"),
    (HELPDESK, None, "accuracy", "higher", "intent_n"),
)


def eval_sets(settings: Settings, *, repo_root: Path = REPO_ROOT) -> dict[str, list[nlu_eval.Case]]:
    """The sets a candidate is compared on: the realistic held-out split, and the helpdesk-assistant set."""
    sources = nlu_eval.Sources.default(repo_root)
    sets = {REALISTIC: nlu_eval.load_realistic(sources.realistic, split="test")}
    if settings.improve_helpdesk_eval and sources.helpdesk_nlu.is_file():
        sets[HELPDESK] = nlu_eval.cases_from_examples(nlu_eval.load_examples(
            sources.helpdesk_nlu, nlu_eval.load_map(sources.helpdesk_map)))
    return sets


async def _summaries(client: RasaClient, sets: dict[str, list[nlu_eval.Case]]) -> dict[str, dict[str, Any]]:
    return {name: nlu_eval.summarise(await nlu_eval.run_cases(cases, client.parse)) for name, cases in sets.items()}


def _value(summary: dict[str, Any] | None, group: str | None, metric: str, count: str) -> tuple[float | None, int]:
    if summary is None:
        return None, 0
    if group is None:  # the set's accuracy: over the cases that name a specific intent
        return summary.get(metric), sum(m["intent_n"] for m in summary["groups"].values())
    row = summary["groups"].get(group)
    return (row[metric], int(row[count])) if row else (None, 0)


def compare(baseline: dict[str, dict[str, Any]], candidate: dict[str, dict[str, Any]], *,
            tolerance: float) -> list[ComparisonRow]:
    """The comparison table: one row per tracked metric with both values, the change and a verdict."""
    rows = []
    for name, group, metric, better, count in TRACKED:
        before, n = _value(baseline.get(name), group, metric, count)
        after, _ = _value(candidate.get(name), group, metric, count)
        allowed = round(max(tolerance, 1 / n if n else 0.0) + 1e-9, 4)
        if before is None or after is None:
            rows.append(ComparisonRow(set=name, metric=f"{group}.{metric}" if group else metric, better=better, n=n,
                                      baseline=before, candidate=after, delta=None, tolerance=allowed,
                                      verdict="not measured"))
            continue
        delta = round(after - before, 4)
        gain = delta if better == "higher" else -delta
        verdict: Verdict = "worse" if gain < -allowed else "better" if gain > allowed else "same"
        rows.append(ComparisonRow(set=name, metric=f"{group}.{metric}" if group else metric, better=better, n=n,
                                  baseline=before, candidate=after, delta=delta, tolerance=allowed, verdict=verdict))
    return rows


def table(rows: list[ComparisonRow]) -> str:
    """The comparison as text (the CLI and the logs)."""
    head = f"{'set':<20} {'metric':<24} {'n':>5} {'current':>9} {'candidate':>9} {'delta':>8} {'allowed':>8}  verdict"
    lines = [head, "-" * len(head)]
    for r in rows:
        def cell(v: float | None) -> str:
            return f"{v:>9.3f}" if v is not None else f"{'-':>9}"
        delta = f"{r.delta:>+8.3f}" if r.delta is not None else f"{'-':>8}"
        lines.append(f"{r.set:<20} {r.metric:<24} {r.n:>5} {cell(r.baseline)} {cell(r.candidate)} {delta} "
                     f"{r.tolerance:>8.3f}  {r.verdict} ({r.better} is better)")
    return "\n".join(lines)


async def measure(settings: Settings, *, baseline: Path, candidate: Path,
                  log_file: Path) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """The summaries of the eval sets under ``baseline`` and under ``candidate``, from one temporary Rasa."""
    sets = eval_sets(settings)
    async with serving.temporary_rasa(settings, baseline, log_file=log_file) as (url, token):
        client = RasaClient(url, token=token, timeout_s=settings.rasa_timeout_s)
        try:
            log.info("improve: measuring the current model %s on %s", baseline.name,
                     ", ".join(f"{k} ({len(v)})" for k, v in sets.items()))
            before = await _summaries(client, sets)
            api = serving.ModelApi(url, token=token)
            await api.load(candidate)
            served = (await api.status()).get("model_file") or ""
            if Path(served).name != candidate.name:
                raise RuntimeError(f"the evaluation Rasa serves {served!r} after loading {candidate.name}")
            log.info("improve: measuring the candidate %s", candidate.name)
            after = await _summaries(client, sets)
        finally:
            await client.aclose()
    return before, after
