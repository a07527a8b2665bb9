"""kb_index is a library: importing it never imports the app, and it reads its own SQL."""

from __future__ import annotations

import re
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


def test_kb_index_is_the_one_writer_of_its_tables() -> None:
    """kb_articles and kb_chunks (views too) are written through kb_index; the api's SQL only reads them."""
    writes = re.compile(r"\b(INSERT\s+INTO|UPDATE|DELETE\s+FROM|COPY)\s+kb_(articles|chunks)\b", re.IGNORECASE)
    writers = [str(p.relative_to(REPO_ROOT)) for p in sorted((REPO_ROOT / "api").rglob("*.sql"))
               if writes.search(p.read_text())]
    assert writers == []
    assert writes.search(_sql.Q.count_view)
