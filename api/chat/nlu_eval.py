"""NLU evaluation: read Rasa NLU YAML, send every example to the bot, score the predictions.

Used by ``deskmate eval nlu``. Labels can be renamed with a map (``open_incident: open_ticket``);
labels mapped to ``null`` are skipped.
"""

from __future__ import annotations

import csv
import hashlib
import random
import re
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

FALLBACK = "nlu_fallback"
# Intents that are conversation, not an IT request: an out_of_scope example predicted as one of these
# (or as fallback) was not "accepted as an IT intent".
NON_IT = frozenset({"greet", "goodbye", "chitchat", "thank", "affirm", "deny", "bot_challenge", "help", "out_of_scope",
                    "human_handoff", "stop", "inform", FALLBACK})
_ENTITY = re.compile(r"\[([^\]]+)\](?:\([^)]*\)|\{[^}]*\})")


@dataclass(frozen=True)
class Example:
    text: str
    intent: str


@dataclass
class Prediction:
    text: str
    expected: str
    predicted: str
    confidence: float
    ms: float


@dataclass
class Report:
    predictions: list[Prediction] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {**self.metrics(), "predictions": [p.__dict__ for p in self.predictions]}

    def metrics(self) -> dict[str, Any]:
        preds = self.predictions
        labels = sorted({p.expected for p in preds})
        per_intent = {label: _prf(preds, label) for label in labels}
        oos = [p for p in preds if p.expected == "out_of_scope"]
        latencies = sorted(p.ms for p in preds)
        return {
            "examples": len(preds),
            "accuracy": round(sum(p.predicted == p.expected for p in preds) / len(preds), 4) if preds else None,
            "macro_f1": round(statistics.fmean(m["f1"] for m in per_intent.values()), 4) if per_intent else None,
            "fallback_rate": round(sum(p.predicted == FALLBACK for p in preds) / len(preds), 4) if preds else None,
            "out_of_scope_accepted_as_it": (round(sum(p.predicted not in NON_IT for p in oos) / len(oos), 4)
                                            if oos else None),
            "latency_ms": {"p50": _pct(latencies, 50), "p95": _pct(latencies, 95)},
            "per_intent": per_intent,
            "confusions": Counter(f"{p.expected} -> {p.predicted}" for p in preds
                                  if p.predicted != p.expected).most_common(15),
        }


def _pct(sorted_values: list[float], pct: int) -> float | None:
    if not sorted_values:
        return None
    return round(sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * pct / 100))], 1)


def _prf(preds: list[Prediction], label: str) -> dict[str, float]:
    tp = sum(p.expected == label and p.predicted == label for p in preds)
    fp = sum(p.expected != label and p.predicted == label for p in preds)
    fn = sum(p.expected == label and p.predicted != label for p in preds)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4), "support": tp + fn}


def strip_entities(text: str) -> str:
    """``[Visio](software) please`` → ``Visio please``."""
    return _ENTITY.sub(r"\1", text).strip()


def example_lines(block: dict[str, Any]) -> list[str]:
    """The ``- text`` lines of a Rasa-style ``examples: |`` block."""
    lines = (line.strip() for line in str(block.get("examples", "")).splitlines())
    return [line[2:].strip() for line in lines if line.startswith("- ")]


def refuse_duplicates(texts: list[str], message: str) -> None:
    """ValueError(``message`` + the text) on the first text seen twice (case-insensitive)."""
    seen: set[str] = set()
    for text in texts:
        if text.lower() in seen:
            raise ValueError(f"{message} {text!r}")
        seen.add(text.lower())


def load_examples(path: Path, label_map: dict[str, str | None] | None = None) -> list[Example]:
    """The intent examples of a Rasa NLU YAML file, entity markup removed, labels mapped."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    examples = []
    for block in data.get("nlu") or []:
        if "intent" not in block:
            continue
        label = block["intent"]
        if label_map is not None and label in label_map:
            label = label_map[label]
        if label is None:
            continue
        examples += [Example(strip_entities(text), label) for text in example_lines(block)]
    return examples


def load_map(path: Path) -> dict[str, str | None]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the label map is a mapping 'their_label: our_label' (or null to skip)")
    return {str(k): (None if v is None else str(v)) for k, v in data.items()}


async def evaluate(examples: list[Example], parse: Callable[[str], Awaitable[dict[str, Any]]],
                   progress: Callable[[], None] | None = None) -> Report:
    """Sends each example to ``parse`` (RasaClient.parse: deskmate's channel, hint included) and collects the predictions."""
    report = Report()
    for example in examples:
        started = time.perf_counter()
        result = await parse(example.text)
        ms = (time.perf_counter() - started) * 1000
        intent = result.get("intent") or {}
        report.predictions.append(Prediction(example.text, example.intent, intent.get("name") or FALLBACK,
                                             float(intent.get("confidence") or 0.0), round(ms, 1)))
        if progress:
            progress()
    return report


# --- The suite: realistic requests, hwu64 and the helpdesk-assistant set, scored per group ----------------------
#
# Every case belongs to a group: `it` (an IT request: any IT intent or a KB question is right), `non_it` (must be
# refused: out_of_scope or fallback), `smalltalk` (greetings, thanks, bye, bot challenge…), or `other` (labels that
# are none of these, e.g. human_handoff in the helpdesk-assistant set). Where a specific intent applies, the case
# names it too ("a|b" allows either); `any_it` means no specific one.

ANY_IT = "any_it"
IT_INTENTS = frozenset({
    "password_reset", "account_unlock", "mfa_problem", "vpn_problem", "vpn_access_request", "wifi_problem",
    "email_problem", "printer_problem", "software_problem", "hardware_problem", "laptop_slow", "software_request",
    "access_request", "new_employee_setup", "open_ticket", "ticket_status", "ticket_update", "cancel_ticket",
    "ask_question"})
SMALL_TALK = frozenset({"greet", "goodbye", "chitchat", "thank", "affirm", "deny", "stop", "bot_challenge", "help"})
REFUSED = frozenset({"out_of_scope", FALLBACK})
GROUPS = ("it", "non_it", "smalltalk", "other")
TEST_SHARE = 30  # percent of the realistic set held out (split: test), chosen by a hash of the text


@dataclass(frozen=True)
class Case:
    text: str
    group: str
    intent: str | None = None  # a specific expected intent ("a|b" = either), ANY_IT, or None
    split: str = "dev"

    def expects(self) -> frozenset[str]:
        """The specific intents that are right; empty when none applies."""
        if self.intent is None or self.intent == ANY_IT:
            return frozenset()
        return frozenset(self.intent.split("|"))


@dataclass
class Scored:
    case: Case
    predicted: str
    confidence: float
    ms: float

    def intent_right(self) -> bool | None:
        expected = self.case.expects()
        return (self.predicted in expected) if expected else None

    def wrong(self) -> bool:
        """Wrong for its group: an IT request not taken as IT, non-IT not refused, small talk mistaken, or the
        specific intent missed."""
        right = self.intent_right()
        if right is not None:
            return not right
        if self.case.group == "it":
            return self.predicted not in IT_INTENTS
        if self.case.group == "non_it":
            return self.predicted not in REFUSED
        if self.case.group == "smalltalk":
            return self.predicted not in SMALL_TALK
        return False

    def as_dict(self) -> dict[str, Any]:
        return {"text": self.case.text, "group": self.case.group, "expected": self.case.intent,
                "split": self.case.split, "predicted": self.predicted, "confidence": self.confidence, "ms": self.ms}


def group_of(label: str) -> str:
    """The group of an intent label of a labelled NLU set."""
    if label in IT_INTENTS or label == ANY_IT:
        return "it"
    if label in SMALL_TALK:
        return "smalltalk"
    if label == "out_of_scope":
        return "non_it"
    return "other"


def split_of(text: str) -> str:
    """`test` for TEST_SHARE % of the texts, `dev` for the rest: fixed by the text, so nobody can pick."""
    bucket = int(hashlib.sha256(" ".join(text.split()).encode("utf-8")).hexdigest()[:8], 16) % 100
    return "test" if bucket < TEST_SHARE else "dev"


def cases_from_examples(examples: list[Example]) -> list[Case]:
    """Labelled NLU examples (e.g. the helpdesk-assistant set after its map) as cases with their group."""
    return [Case(e.text, group_of(e.intent), None if e.intent == "out_of_scope" else e.intent) for e in examples]


def load_realistic(directory: Path, *, split: str | None = None) -> list[Case]:
    """The cases of data/eval/realistic/*.yml; ``split`` ("dev" or "test") keeps one part only."""
    cases: list[Case] = []
    for path in sorted(directory.glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        group = data.get("group")
        if group not in GROUPS:
            raise ValueError(f"{path}: 'group' must be one of {', '.join(GROUPS)}")
        for block in data.get("cases") or []:
            intent = block.get("intent")
            cases += [Case(text, group, intent, split_of(text)) for text in example_lines(block)]
    refuse_duplicates([c.text for c in cases], f"{directory}: duplicate case")
    return [c for c in cases if split is None or c.split == split]


def load_hwu64(csv_path: Path, label_map: dict[str, str | None], *, sample: int = 600, seed: int = 64) -> list[Case]:
    """A fixed sample of hwu64, stratified by scenario (largest remainder), labels as ``scenario_intent``.

    ``label_map`` names the labels that are small talk for us (``general_praise: thank``); a label mapped to null
    is skipped; every other row is expected to be refused as not IT.
    """
    by_scenario: dict[str, list[tuple[str, str]]] = {}
    with csv_path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            label = f"{row['scenario']}_{row['intent']}"
            if label in label_map and label_map[label] is None:
                continue
            by_scenario.setdefault(row["scenario"], []).append((row["text"].strip(), label))
    total = sum(len(rows) for rows in by_scenario.values())
    sample = min(sample, total)
    quotas = {s: sample * len(rows) / total for s, rows in by_scenario.items()}
    counts = {s: int(q) for s, q in quotas.items()}
    for s in sorted(quotas, key=lambda s: (-(quotas[s] - counts[s]), s))[:sample - sum(counts.values())]:
        counts[s] += 1
    rng = random.Random(seed)
    cases = []
    for scenario in sorted(by_scenario):
        for text, label in rng.sample(sorted(by_scenario[scenario]), counts[scenario]):
            ours = label_map.get(label)
            cases.append(Case(text, "non_it") if ours is None else Case(text, group_of(ours), ours))
    return cases


async def run_cases(cases: list[Case], parse: Callable[[str], Awaitable[dict[str, Any]]],
                    progress: Callable[[], None] | None = None) -> list[Scored]:
    """Sends each case to ``parse`` (RasaClient.parse: deskmate's channel, hint included) and keeps the top intent."""
    scored = []
    for case in cases:
        started = time.perf_counter()
        result = await parse(case.text)
        ms = (time.perf_counter() - started) * 1000
        intent = result.get("intent") or {}
        scored.append(Scored(case, intent.get("name") or FALLBACK, float(intent.get("confidence") or 0.0),
                             round(ms, 1)))
        if progress:
            progress()
    return scored


def _share(values: list[bool]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def group_metrics(scored: list[Scored]) -> dict[str, dict[str, Any]]:
    """Per group: how many, taken as IT, refused, answered as small talk, the specific intent right."""
    out: dict[str, dict[str, Any]] = {}
    for group in GROUPS:
        rows = [s for s in scored if s.case.group == group]
        if not rows:
            continue
        specific = [r for r in (s.intent_right() for s in rows) if r is not None]
        out[group] = {
            "n": len(rows),
            "as_it": _share([s.predicted in IT_INTENTS for s in rows]),
            "refused": _share([s.predicted in REFUSED for s in rows]),
            "as_smalltalk": _share([s.predicted in SMALL_TALK for s in rows]),
            "intent_right": _share(specific),
            "intent_n": len(specific),
        }
    return out


def confusions(scored: list[Scored], top: int = 12) -> list[tuple[str, int]]:
    """The most frequent mistakes as ``expected -> predicted`` (expected is the group when no intent applies)."""
    return Counter(f"{s.case.intent or s.case.group} -> {s.predicted}" for s in scored if s.wrong()).most_common(top)


def summarise(scored: list[Scored]) -> dict[str, Any]:
    """One set's numbers: per group, overall intent accuracy, top confusions, latency."""
    latencies = sorted(s.ms for s in scored)
    return {"examples": len(scored),
            "accuracy": _share([s.intent_right() is True for s in scored if s.intent_right() is not None]),
            "groups": group_metrics(scored), "confusions": confusions(scored),
            "latency_ms": {"p50": _pct(latencies, 50), "p95": _pct(latencies, 95)}}


# The targets of issue #10, as (group, metric, "min"|"max", value).
TARGETS = (("it", "as_it", "min", 0.90), ("non_it", "as_it", "max", 0.05), ("smalltalk", "as_smalltalk", "min", 0.95),
           ("it", "intent_right", "min", 0.85))
_COLUMNS = (("n", "n"), ("as_it", "as IT"), ("refused", "refused"), ("as_smalltalk", "small talk"),
            ("intent_right", "intent right"))


def table(summaries: dict[str, dict[str, Any]]) -> str:
    """One text table: a row per (set, group), a column per metric; the cell a target applies to is starred."""
    targeted = {(group, metric) for group, metric, _, _ in TARGETS}
    header = f"{'set':<22} {'group':<10} " + " ".join(f"{title:>12}" for _, title in _COLUMNS) + f" {'accuracy':>9}"
    lines = [header, "-" * len(header)]
    for name, summary in summaries.items():
        for group, m in summary["groups"].items():
            cells = [f"{m['n']:>12}"]
            for key, _ in _COLUMNS[1:]:
                value = m[key]
                if value is None:
                    cells.append(f"{'-':>12}")
                    continue
                count = f" ({m['intent_n']})" if key == "intent_right" else ""
                star = "*" if (group, key) in targeted else " "
                cells.append(f"{f'{value:.3f}{count}{star}':>12}")
            accuracy = summary["accuracy"] if group == next(iter(summary["groups"])) else None
            lines.append(f"{name:<22} {group:<10} " + " ".join(cells)
                         + (f" {accuracy:>9.3f}" if accuracy is not None else f" {'':>9}"))
    lines.append("* = an issue #10 target: IT as IT >= 0.90, non-IT as IT <= 0.05, small talk >= 0.95, "
                 "IT intent right >= 0.85. accuracy = specific intent right over all cases that name one.")
    return "\n".join(lines)


def confusion_lines(summaries: dict[str, dict[str, Any]]) -> str:
    lines = []
    for name, summary in summaries.items():
        lines.append(f"top confusions, {name}:")
        lines.extend(f"  {count:>4}  {pair}" for pair, count in summary["confusions"])
    return "\n".join(lines)


def find_shared_eval(repo_root: Path) -> Path:
    """``<ancestor>/shared/eval`` for the nearest ancestor of the repository that has one (else ``../shared/eval``)."""
    for parent in repo_root.resolve().parents:
        if (parent / "shared" / "eval").is_dir():
            return parent / "shared" / "eval"
    return repo_root.parent / "shared" / "eval"


@dataclass(frozen=True)
class Sources:
    """Where the suite's sets are; a missing public set is skipped (it lives outside the repository)."""
    realistic: Path
    hwu64_csv: Path
    hwu64_map: Path
    helpdesk_nlu: Path
    helpdesk_map: Path

    @classmethod
    def default(cls, repo_root: Path, shared_eval: Path | None = None) -> Sources:
        """The repository's sets, and the public ones under ``shared_eval`` (default: the nearest
        ``shared/eval`` beside the repository or one of its parents, i.e. ``<repo>/../shared/eval``)."""
        shared = shared_eval or find_shared_eval(repo_root)
        return cls(realistic=repo_root / "data" / "eval" / "realistic",
                   hwu64_csv=shared / "hwu64" / "utterances.csv", hwu64_map=repo_root / "data" / "eval" / "hwu64.map.yml",
                   helpdesk_nlu=shared / "rasa-helpdesk-assistant" / "data" / "nlu.yml",
                   helpdesk_map=repo_root / "data" / "eval" / "rasa-helpdesk-assistant.map.yml")


def load_suite(sources: Sources, *, hwu64_sample: int = 600) -> tuple[dict[str, list[Case]], list[str]]:
    """The sets to parse, by name, and a note for each set that was skipped."""
    sets: dict[str, list[Case]] = {"realistic": load_realistic(sources.realistic)}
    skipped = []
    if sources.hwu64_csv.is_file():
        sets[f"hwu64 ({hwu64_sample})"] = load_hwu64(sources.hwu64_csv, load_map(sources.hwu64_map),
                                                    sample=hwu64_sample)
    else:
        skipped.append(f"hwu64: {sources.hwu64_csv} not found")
    if sources.helpdesk_nlu.is_file():
        sets["helpdesk-assistant"] = cases_from_examples(load_examples(sources.helpdesk_nlu,
                                                                       load_map(sources.helpdesk_map)))
    else:
        skipped.append(f"helpdesk-assistant: {sources.helpdesk_nlu} not found")
    return sets, skipped


async def run_suite(sets: dict[str, list[Case]], parse: Callable[[str], Awaitable[dict[str, Any]]],
                    progress: Callable[[], None] | None = None) -> dict[str, list[Scored]]:
    """Parses every set; the realistic set is also reported on its held-out part alone (``realistic test``)."""
    scored = {name: await run_cases(cases, parse, progress) for name, cases in sets.items()}
    if "realistic" in scored:
        held_out = [s for s in scored["realistic"] if s.case.split == "test"]
        scored = {"realistic (all)": scored.pop("realistic"), "realistic test": held_out, **scored}
    return scored


def suite_report(scored: dict[str, list[Scored]]) -> dict[str, Any]:
    """The JSON report: a summary per set, and every prediction."""
    return {"summaries": {name: summarise(rows) for name, rows in scored.items()},
            "predictions": {name: [s.as_dict() for s in rows] for name, rows in scored.items()
                            if name != "realistic test"}}
