"""The pages' vendored third-party assets are exactly the packages package.json pins (docs/analytics.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from api.analytics import charts

ROOT = Path(__file__).resolve().parents[2]
VENDORED = ROOT / "api" / "web" / "static" / charts.CHART_JS


def test_chart_js_is_the_pinned_version_with_its_licence() -> None:
    pinned = json.loads((ROOT / "package.json").read_text())["dependencies"]["chart.js"]
    assert pinned == charts.CHART_JS_VERSION
    assert f"Chart.js v{pinned}" in VENDORED.read_text()[:200]
    assert "MIT License" in (VENDORED.parent / "LICENSE.md").read_text()


def test_chart_js_is_the_package_file_byte_for_byte() -> None:
    installed = ROOT / "node_modules" / "chart.js" / "dist" / "chart.umd.min.js"
    if not installed.exists():  # `make test` installs it (npm ci); a bare pytest may not have
        pytest.skip("node_modules/chart.js is not installed (npm ci)")
    assert VENDORED.read_bytes() == installed.read_bytes(), "stale copy: run `make vendor`"
