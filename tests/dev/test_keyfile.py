"""api.keyfile: secret files are private from their first byte, created once, agreed on by racers."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading

from api import keyfile
from api.settings import REPO_ROOT


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_created_private_even_under_a_permissive_umask(tmp_path):
    old = os.umask(0)
    try:
        value = keyfile.read_or_create(tmp_path / "keys" / "a.key", nbytes=16)
    finally:
        os.umask(old)
    assert _mode(tmp_path / "keys" / "a.key") == 0o600 and len(value) >= 16
    assert [p.name for p in (tmp_path / "keys").iterdir()] == ["a.key"]  # no temporary left behind


def test_never_visible_with_looser_permissions_or_half_written(tmp_path, monkeypatch):
    """The file appears under its name only by link(2) of a complete 0600 temporary."""
    seen = []
    real_link = os.link

    def watching_link(src, dst, *args, **kwargs):
        seen.append((_mode(type(tmp_path)(src)), type(tmp_path)(src).read_text()))
        return real_link(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "link", watching_link)
    keyfile.write_secret(tmp_path / "b.key", "s3cret-value")
    assert seen == [(0o600, "s3cret-value")]


def test_existing_file_is_kept(tmp_path):
    path = tmp_path / "c.key"
    first = keyfile.read_or_create(path)
    assert keyfile.read_or_create(path) == first
    assert keyfile.write_secret(path, "other") is False and path.read_text() == first


def test_concurrent_creators_agree(tmp_path):
    path = tmp_path / "d.key"
    barrier = threading.Barrier(8)
    results: list[str] = []

    def create() -> None:
        barrier.wait()
        results.append(keyfile.read_or_create(path))

    threads = [threading.Thread(target=create) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1 and results[0] == path.read_text()


def test_concurrent_processes_agree(tmp_path):
    path = tmp_path / "e.key"
    code = f"from pathlib import Path; from api import keyfile; print(keyfile.read_or_create(Path({str(path)!r})))"
    procs = [subprocess.Popen([sys.executable, "-c", code], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
             for _ in range(4)]
    values = {p.communicate(timeout=60)[0].strip() for p in procs}
    assert values == {path.read_text()}


def test_replace_swaps_the_content_atomically_and_stays_private(tmp_path):
    path = tmp_path / "f.env"
    path.write_text("old")
    path.chmod(0o644)
    keyfile.replace_secret(path, "new")
    assert path.read_text() == "new" and _mode(path) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["f.env"]
