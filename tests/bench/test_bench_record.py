"""bench/record.py: each bench's JSON kept with the machine's description, failures recorded, figures compared."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
RECORD = REPO_ROOT / "bench" / "record.py"


def script(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text("import json, sys\n" + body)
    return str(path)


def record(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(RECORD), *args], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=120)


def test_a_run_keeps_each_benchs_json_with_the_machine_and_its_arguments(tmp_path: Path) -> None:
    fast = script(tmp_path, "fast.py", "print('warming up', file=sys.stderr)\n"
                                       "print(json.dumps({'p95_ms': 12.5, 'args': sys.argv[1:], 'by': {'c4': [1, 2]}}))\n")
    out = tmp_path / "results" / "run.json"

    spec = f"{fast} --size 'a b'"
    done = record(spec, "--out", str(out), "--", "--quick")

    assert done.returncode == 0, done.stderr
    saved = json.loads(out.read_text())
    assert saved == json.loads(done.stdout)
    entry = saved["benches"][spec]  # keyed by the bench and its own arguments
    assert entry["ok"] is True and entry["exit_code"] == 0
    assert entry["result"] == {"p95_ms": 12.5, "args": ["--size", "a b", "--quick"], "by": {"c4": [1, 2]}}
    assert entry["args"] == ["--size", "a b", "--quick"]
    assert len(entry["load_before"]) == 3 and len(entry["load_after"]) == 3
    machine = saved["machine"]
    assert machine["cores"] >= 1 and machine["memory_gib"] > 0 and machine["python"].count(".") == 2
    assert len(machine["git"]) == 40
    assert "stderr_tail" not in entry


def test_a_failing_bench_is_recorded_with_its_stderr_and_the_others_still_run(tmp_path: Path) -> None:
    broken = script(tmp_path, "broken.py", "print('database refused the connection', file=sys.stderr)\n"
                                           "raise SystemExit(3)\n")
    silent = script(tmp_path, "silent.py", "print('no json here')\n")
    fine = script(tmp_path, "fine.py", "print(json.dumps({'turns_per_s': 7}))\n")
    out = tmp_path / "run.json"

    done = record(broken, silent, fine, "--out", str(out))

    assert done.returncode == 1
    benches = json.loads(out.read_text())["benches"]
    assert benches[broken]["ok"] is False and benches[broken]["exit_code"] == 3
    assert benches[broken]["stderr_tail"] == ["database refused the connection"]
    assert benches[silent]["ok"] is False and benches[silent]["exit_code"] == 0
    assert benches[silent]["stdout_tail"] == ["no json here"]
    assert benches[fine]["ok"] is True and benches[fine]["result"] == {"turns_per_s": 7}


def test_figures_that_moved_since_the_last_run_are_listed(tmp_path: Path) -> None:
    results = tmp_path / "results"
    first = script(tmp_path, "first.py", "print(json.dumps({'p95_ms': 10.0, 'rate': 100, 'same': 5, 'ok': True}))\n")
    assert record(first, "--out", str(results / "20261201T000000Z-aaaaaaa.json")).returncode == 0
    second = tmp_path / "second.py"
    second.write_text("import json\nprint(json.dumps({'p95_ms': 14.0, 'rate': 95, 'same': 5, 'ok': False}))\n")
    (tmp_path / "first.py").write_text(second.read_text())  # the same bench path, new figures

    done = record(first, "--out", str(results / "20261202T000000Z-bbbbbbb.json"))

    assert done.returncode == 0, done.stderr
    saved = json.loads((results / "20261202T000000Z-bbbbbbb.json").read_text())
    assert saved["compared_with"].endswith("20261201T000000Z-aaaaaaa.json")
    assert saved["moved"] == [{"bench": first, "figure": "p95_ms", "before": 10.0, "after": 14.0, "change": 0.4}]
    assert "p95_ms: 10 → 14 (+40.0%)" in done.stderr


def test_an_unknown_bench_is_refused_before_anything_runs(tmp_path: Path) -> None:
    done = record(str(tmp_path / "missing.py"), "--out", str(tmp_path / "run.json"))

    assert done.returncode == 2
    assert "no benchmark at" in done.stderr
    assert not (tmp_path / "run.json").exists()
