"""Runs benchmarks and keeps their figures: one file per run under bench/results/, with the machine's description.

Each benchmark is a script that prints one JSON object on stdout (progress on stderr) and measures its own
same-run baseline. This runs them one after another, in a process each, and writes

    bench/results/<UTC time>-<git short sha>.json
    {"machine": {...cores, memory, CPU, load before and after each bench, git revision...},
     "benches": {"bench/chat.py": {"ok": true, "seconds": 312.4, "result": {...its JSON...}}, ...}}

then compares with the newest earlier file (``--against FILE`` picks another) and prints, on stderr, every
number that moved by more than ``--threshold`` (10 % by default) — the "same figure, last time" beside this
run's. A bench that fails is recorded with its exit code and the end of its stderr; the others still run, and
the exit code is 1.

    .venv/bin/python bench/record.py                        # every benchmark (make bench)
    .venv/bin/python bench/record.py bench/kb.py -- --quick  # one, with arguments after -- (given to each)
    .venv/bin/python bench/record.py "bench/console.py --tickets 1000000"   # a bench with arguments of its own
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO_ROOT / "bench" / "results"
ALL = ["bench/tickets.py", "bench/chat.py", "bench/kb.py", "bench/kb_scale.py", "bench/triage.py", "bench/workflows.py",
       "bench/channels.py", "bench/sync.py",
       "bench/chat.py --rasa 2 --long-turns 0",  # two Rasa servers and a Redis lock store
       # 100k tickets; the full 1M/3M load takes ~25 min (docs/analytics.md)
       "bench/console.py --tickets 100000 --messages 300000"]
STDERR_TAIL = 40


def machine() -> dict[str, Any]:
    """What the figures were measured on: cores, memory, CPU model, kernel, Python, the git revision."""
    info: dict[str, Any] = {
        "host": platform.node(), "cores": os.cpu_count(), "kernel": platform.release(),
        "python": platform.python_version(), "cpu": _cpu_model(), "memory_gib": _memory_gib(),
        "git": _git("rev-parse", "HEAD"), "git_dirty": bool(_git("status", "--porcelain")),
    }
    return info


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def run_bench(script: str, args: list[str]) -> dict[str, Any]:
    """One benchmark in a process of its own: its JSON, its time and the machine's load around it."""
    before = load_average()
    started = time.monotonic()
    tail: deque[str] = deque(maxlen=STDERR_TAIL)
    with tempfile.TemporaryFile("w+") as stdout:
        proc = subprocess.Popen([sys.executable, script, *args], cwd=REPO_ROOT, stdout=stdout,
                                stderr=subprocess.PIPE, text=True)
        assert proc.stderr is not None
        for line in proc.stderr:  # the bench's progress, shown as it comes
            print(f"    {line}", end="", file=sys.stderr, flush=True)
            tail.append(line.rstrip("\n"))
        exit_code = proc.wait()
        stdout.seek(0)
        printed = stdout.read()
    entry: dict[str, Any] = {"args": args, "seconds": round(time.monotonic() - started, 1),
                             "load_before": before, "load_after": load_average(), "exit_code": exit_code}
    result = last_json_object(printed)
    entry["ok"] = exit_code == 0 and result is not None
    if result is not None:
        entry["result"] = result
    if not entry["ok"]:
        entry["stderr_tail"] = list(tail)
        if result is None:
            entry["stdout_tail"] = printed.splitlines()[-STDERR_TAIL:]
    return entry


def last_json_object(stdout: str) -> dict[str, Any] | None:
    """The JSON object a bench printed (the whole output, or its last line that parses as an object)."""
    for text in [stdout, *reversed(stdout.splitlines())]:
        try:
            value = json.loads(text)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def numbers(value: Any, path: str = "") -> Iterator[tuple[str, float]]:
    """Every finite number in a JSON value, by its path (``chat.c20.gateway.p95_ms``)."""
    if isinstance(value, bool):
        return
    if isinstance(value, int | float):
        if math.isfinite(value):
            yield path, float(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from numbers(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from numbers(item, f"{path}[{index}]")


def compare(current: dict[str, Any], previous: dict[str, Any], threshold: float) -> list[dict[str, Any]]:
    """The figures of benches run both times that moved by more than ``threshold`` (a fraction)."""
    moved = []
    for script, entry in current.get("benches", {}).items():
        old = previous.get("benches", {}).get(script)
        if not (entry.get("ok") and old and old.get("ok")):
            continue
        before = dict(numbers(old.get("result")))
        for path, value in numbers(entry.get("result")):
            if path not in before:
                continue
            base = before[path]
            change = (value - base) / abs(base) if base else (math.inf if value else 0.0)
            if abs(change) > threshold:
                moved.append({"bench": script, "figure": path, "before": base, "after": value,
                              "change": None if math.isinf(change) else round(change, 3)})
    return moved


def previous_result(out: Path) -> Path | None:
    """The newest other result beside ``out`` (file names start with their UTC time)."""
    earlier = sorted(p for p in out.parent.glob("*.json") if p.resolve() != out.resolve() and p.name < out.name)
    return earlier[-1] if earlier else None


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    passthrough: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, passthrough = argv[:cut], argv[cut + 1:]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("benches", nargs="*", help="bench scripts, each with its own arguments in one quoted word "
                        "(default: every bench)")
    parser.add_argument("--out", type=Path, help="the result file (default: bench/results/<time>-<sha>.json)")
    parser.add_argument("--against", type=Path, help="compare with this result (default: the newest earlier one "
                        "in the same folder)")
    parser.add_argument("--threshold", type=float, default=0.10, help="report figures that moved more than this")
    options = parser.parse_args(argv)
    runs = [shlex.split(spec) for spec in options.benches or ALL]
    for script, *_ in runs:
        if not (REPO_ROOT / script).is_file() and not Path(script).is_file():
            parser.error(f"no benchmark at {script}")

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = options.out or RESULTS_DIR / f"{stamp}-{(_git('rev-parse', '--short', 'HEAD') or 'nogit')}.json"
    record: dict[str, Any] = {"started_at": stamp, "machine": machine(), "benches": {}}
    for number, (script, *own) in enumerate(runs, 1):
        args = [*own, *passthrough]
        print(f"==> [{number}/{len(runs)}] {shlex.join([script, *args])}", file=sys.stderr, flush=True)
        entry = run_bench(script, args)
        record["benches"][shlex.join([script, *own])] = entry  # "bench/chat.py --rasa 2" beside "bench/chat.py"
        verdict = "ok" if entry["ok"] else f"FAILED (exit {entry['exit_code']})"
        print(f"    {verdict} in {entry['seconds']} s, load {entry['load_before']} → {entry['load_after']}",
              file=sys.stderr, flush=True)
        _write(out, record)  # after each bench: a run stopped half-way keeps what it measured

    against = options.against or previous_result(out)
    if against is not None:
        record["compared_with"] = str(against.relative_to(REPO_ROOT) if against.is_relative_to(REPO_ROOT) else against)
        record["moved"] = compare(record, json.loads(against.read_text()), options.threshold)
        _write(out, record)
        print(f"==> against {record['compared_with']}: {len(record['moved'])} figures moved by more than "
              f"{options.threshold:.0%}", file=sys.stderr)
        for item in record["moved"]:
            change = "new" if item["change"] is None else f"{item['change']:+.1%}"
            print(f"    {item['bench']} {item['figure']}: {item['before']:g} → {item['after']:g} ({change})",
                  file=sys.stderr)
    print(f"==> saved {out}", file=sys.stderr)
    print(json.dumps(record))
    return 0 if all(entry["ok"] for entry in record["benches"].values()) else 1


def _write(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(record, indent=1) + "\n")
    partial.replace(path)


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


if __name__ == "__main__":
    raise SystemExit(main())
