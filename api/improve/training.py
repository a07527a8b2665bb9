"""Training a candidate: the bot project plus the approved examples, in a temporary copy, through ``rasa train``.

The repository is never written: bot/domain.yml and data/{nlu,rules,stories} are copied into a temporary
directory, the approved examples are added as ``data/nlu/improve_approved.yml``, and ``rasa train`` (in
.venv-rasa) writes ``<models_dir>/<version>.tar.gz``. Rasa's component cache lives in
``<models_dir>/.rasa-cache``, so components whose inputs did not change are reused between candidates.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from api.chat import nlu_eval
from api.improve import serving
from api.settings import REPO_ROOT, Settings

log = logging.getLogger(__name__)
PROJECT_FILES = ("bot/domain.yml",)
DATA_DIRS = ("data/nlu", "data/rules", "data/stories")
APPROVED_FILE = "improve_approved.yml"
PROGRESS_EVERY_S = 15.0
_NOISE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class TrainingFailed(RuntimeError):
    """``rasa train`` failed or did not produce the model."""


@dataclass(frozen=True)
class Approved:
    """The examples of one approved proposal."""

    proposal_id: int
    intent: str
    examples: tuple[str, ...]


def as_examples(approved: list[Approved]) -> list[nlu_eval.Example]:
    """The approved examples as a candidate trains on them: each text once per intent, in the proposals' order."""
    seen: set[tuple[str, str]] = set()
    examples = []
    for a in approved:
        for text in a.examples:
            if (a.intent, text) not in seen:
                seen.add((a.intent, text))
                examples.append(nlu_eval.Example(text, a.intent))
    return examples


def approved_yaml(approved: list[Approved]) -> str:
    """Rasa NLU YAML with the approved examples, one block per intent (the texts were checked at approval)."""
    by_intent: dict[str, list[str]] = {}
    for example in as_examples(approved):
        by_intent.setdefault(example.intent, []).append(example.text)
    body = {"version": "3.1", "nlu": [{"intent": intent, "examples": _Block("".join(f"- {e}\n" for e in texts))}
                                      for intent, texts in sorted(by_intent.items())]}
    return "# Examples approved from failed conversations (deskmate improve).\n" + yaml.dump(
        body, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=10_000)


class _Block(str):
    """A string written as a YAML literal block (``|``), as Rasa's examples are."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(_Block, lambda d, s: d.represent_scalar("tag:yaml.org,2002:str", s, style="|"))


def project(into: Path, approved: list[Approved], *, root: Path = REPO_ROOT) -> Path:
    """Copies the bot project into ``into`` and adds the approved examples; returns ``into``."""
    for name in PROJECT_FILES:
        (into / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, into / name)
    for name in DATA_DIRS:
        shutil.copytree(root / name, into / name, dirs_exist_ok=True)
    if approved:
        (into / "data" / "nlu" / APPROVED_FILE).write_text(approved_yaml(approved), encoding="utf-8")
    return into


async def train(settings: Settings, *, version: str, approved: list[Approved], out_dir: Path,
                config: Path) -> Path:
    """Runs ``rasa train`` on the project plus ``approved`` with ``config``; returns the model file."""
    rasa = settings.improve_rasa_venv / "bin" / "rasa"
    if not rasa.exists():
        raise TrainingFailed(f"{rasa} is missing: run scripts/rasa_env.sh (make setup) first")
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"deskmate-train-{version}-") as tmp:
        work = project(Path(tmp), approved)
        cmd = [str(rasa), "train", "--config", str(config), "--domain", str(work / "bot" / "domain.yml"),
               "--data", *[str(work / d) for d in DATA_DIRS], "--out", str(out_dir), "--fixed-model-name", version]
        env = serving.rasa_env() | {"RASA_CACHE_DIRECTORY": str(out_dir / ".rasa-cache")}
        proc = await asyncio.create_subprocess_exec(*cmd, cwd=REPO_ROOT, env=env, stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.STDOUT, start_new_session=True)
        try:
            tail = await asyncio.wait_for(_follow(proc, version), timeout=settings.improve_train_timeout_s)
        except TimeoutError as exc:
            proc.kill()
            await proc.wait()
            raise TrainingFailed(f"rasa train took longer than {settings.improve_train_timeout_s:g} s") from exc
    model = out_dir / f"{version}.tar.gz"
    if proc.returncode != 0 or not model.is_file():
        raise TrainingFailed(f"rasa train failed (exit {proc.returncode}): " + " | ".join(tail[-8:]))
    return model


async def _follow(proc: asyncio.subprocess.Process, version: str) -> list[str]:
    """Reads Rasa's output to the end, logging a progress line every PROGRESS_EVERY_S; returns the last lines."""
    assert proc.stdout is not None
    started = last_said = time.monotonic()
    tail: list[str] = []
    buffer = b""
    while chunk := await proc.stdout.read(4096):
        buffer += chunk
        *lines, buffer = re.split(rb"[\r\n]", buffer)
        tail = (tail + [t for t in (_NOISE.sub("", x.decode(errors="replace")).strip() for x in lines) if t])[-40:]
        if tail and time.monotonic() - last_said >= PROGRESS_EVERY_S:
            last_said = time.monotonic()
            log.info("improve: training %s, %.0f s: %s", version, last_said - started, tail[-1][:160])
    await proc.wait()
    log.info("improve: training %s finished in %.0f s (exit %s)", version, time.monotonic() - started,
             proc.returncode)
    return tail
