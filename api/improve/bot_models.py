"""Where the loop's Rasa models live and which one is current; no database, so the dev stack can ask before it
starts anything.

``<models_dir>/<version>.tar.gz`` are the candidates (DESKMATE_IMPROVE_MODELS_DIR, default ``<data_dir>/models``);
``<models_dir>/current.txt`` names the promoted one. Without a promoted model, the current model is the one
the repository trains (``bot/models/deskmate.tar.gz``, scripts/train_bot.sh).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from api.settings import REPO_ROOT, Settings

SHIPPED_MODEL = REPO_ROOT / "bot" / "models" / "deskmate.tar.gz"
POINTER = "current.txt"
VERSION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,99}$")


def models_dir(settings: Settings) -> Path:
    return settings.improve_models_dir or settings.data_dir / "models"


def model_path(settings: Settings, version: str) -> Path:
    if not VERSION.match(version):
        raise ValueError(f"not a model version: {version!r}")
    return models_dir(settings) / f"{version}.tar.gz"


def current_version(settings: Settings) -> str | None:
    """The promoted version whose file exists, or None."""
    pointer = models_dir(settings) / POINTER
    try:
        version = pointer.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return version if VERSION.match(version) and model_path(settings, version).is_file() else None


def current_model_path(settings: Settings) -> Path:
    """The model Rasa should serve: the promoted one, else the shipped bot/models/deskmate.tar.gz."""
    version = current_version(settings)
    return model_path(settings, version) if version else SHIPPED_MODEL


def set_current(settings: Settings, version: str | None) -> None:
    """Names ``version`` as the promoted model (None: back to the shipped one); atomic for readers."""
    directory = models_dir(settings)
    directory.mkdir(parents=True, exist_ok=True)
    pointer = directory / POINTER
    if version is None:
        pointer.unlink(missing_ok=True)
        return
    if not model_path(settings, version).is_file():
        raise FileNotFoundError(f"{model_path(settings, version)} does not exist")
    tmp = directory / f".{POINTER}.{os.getpid()}"
    tmp.write_text(version + "\n", encoding="utf-8")
    os.replace(tmp, pointer)
