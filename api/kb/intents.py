"""The intent map: a Rasa intent → the KB categories and tags of the articles that usually answer it.

``POST /kb/answer {"intent"}`` turns it into a soft boost of those articles' scores (``kb_index.Boost``), never a
filter. The file (DESKMATE_KB_INTENTS_FILE, default data/kb/intents.yml) is read and validated once per path:
a malformed file fails loudly at start, not on the first question.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import yaml

import kb_index

INTENT = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
KEYS = frozenset({"categories", "tags"})


class IntentMapError(ValueError):
    """The intent map file is missing or malformed."""


def parse(text: str, *, source: str = "intents.yml", weight: float = kb_index.INTENT_BOOST
          ) -> dict[str, kb_index.Boost]:
    """The boosts of an intent map (YAML: ``intent: {categories: [..], tags: [..]}``); IntentMapError if malformed."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise IntentMapError(f"{source}: not valid YAML: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise IntentMapError(f"{source}: expected a mapping of intent names")
    out = {}
    for name, entry in data.items():
        if not isinstance(name, str) or not INTENT.match(name):
            raise IntentMapError(f"{source}: {name!r} is not an intent name (lower case, digits, _)")
        entry = entry or {}
        if not isinstance(entry, dict) or set(entry) - KEYS:
            raise IntentMapError(f"{source}: {name}: only 'categories' and 'tags' are allowed")
        lists = {}
        for key in KEYS:
            values = entry.get(key) or []
            if not isinstance(values, list) or not all(isinstance(v, str) and v.strip() for v in values):
                raise IntentMapError(f"{source}: {name}.{key}: expected a list of non-empty strings")
            lists[key] = frozenset(v.strip().lower() for v in values)
        out[name] = kb_index.Boost(categories=lists["categories"], tags=lists["tags"], weight=weight)
    return out


@lru_cache(maxsize=4)
def load(path: Path) -> dict[str, kb_index.Boost]:
    """The intent map in ``path`` (read once per path)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise IntentMapError(f"cannot read the intent map {path}: {exc}") from exc
    return parse(text, source=str(path))
