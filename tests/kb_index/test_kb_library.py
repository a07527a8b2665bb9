"""kb_index is a library: importing it never imports the app, and it reads its own SQL."""

from __future__ import annotations

import subprocess
import sys

import kb_index
from api.settings import REPO_ROOT
from kb_index import _sql

NO_APP = "import kb_index, sys; assert not any(m == 'api' or m.startswith('api.') for m in sys.modules), " \
         "sorted(m for m in sys.modules if m == 'api' or m.startswith('api.'))"


def test_importing_kb_index_does_not_import_the_app() -> None:
    done = subprocess.run([sys.executable, "-c", NO_APP], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_kb_index_reads_its_own_named_statements() -> None:
    assert "FROM kb_chunks" in _sql.Q.search_vector
    assert not _sql.Q.delete_article.rstrip().endswith(";")
    assert kb_index.search.__module__ == "kb_index._search"
