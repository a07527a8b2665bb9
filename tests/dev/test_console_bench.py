"""bench/console.py's generator, run small: it loads exactly the tickets and messages asked for, over several
chunks, and says what it loaded as the tables then hold it."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

from api.settings import REPO_ROOT


def test_the_console_bench_loads_what_it_is_asked_to() -> None:
    run = subprocess.run(
        [sys.executable, "bench/console.py", "--tickets", "2000", "--messages", "6000", "--weeks", "8", "--load-only",
         "--chunk", "700", "--database", f"deskmate_bench_smoke_{uuid.uuid4().hex[:8]}"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    load = json.loads(run.stdout)["load"]
    assert load["written"]["tickets"] == load["in_tables"]["tickets"] == 2000
    assert load["written"]["messages"] == load["in_tables"]["messages"] == 6000
    assert load["written"]["ticket_events"] == load["in_tables"]["ticket_events"] > 4 * 2000
    assert 0 < load["in_tables"]["csat_surveys"] <= 2000
    assert 0 < load["in_tables"]["conversations"] < 6000 / 2
    assert "2000/2000" in run.stderr  # the progress bar got to the end
