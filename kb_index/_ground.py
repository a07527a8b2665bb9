"""Grounding: keeps the sentences of an LLM reply that the sources *they* cite support.

A reply is split into sentences (a line, or text ending in . ! ? — citations after the stop belong
to the sentence). Each sentence of at least ``MIN_JUDGED_WORDS`` content words (URLs and citations
aside) is judged against the passages of the sources it cites, and only those:

- it must cite a source, and every number it cites must name a source ([9] of four sources fails);
- at least ``SUPPORT_MIN`` of its content words must occur in the cited passages and titles (a shared
  prefix of 3 letters counts: "lock" / "lockout");
- every number in it ("24 hours", "3 attempts", "100 GB") must occur in the cited passages.

A line that is only citations ("[1] [2] [3]") is dropped; shorter sentences ("Steps:") are kept unless
they cite a source that does not exist, or are a link that cites nothing ("2. https://…"). The rule and its thresholds were chosen on the labelled
sentences of ``data/kb_eval/grounding.jsonl`` (``bench/grounding.py`` prints precision and recall of
this rule and of the variants tried, embedding similarity among them; docs/knowledge.md).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from kb_index._passage import share, words
from kb_index._types import SearchHit

SUPPORT_MIN = 0.6  # share of a sentence's content words its cited sources must contain
MIN_JUDGED_WORDS = 3  # shorter sentences ("See [1].", "Steps:") carry no fact of their own and are not judged
CITE = re.compile(r"\[(\d{1,2})\]")
_SENTENCE = re.compile(r"(?<=[.!?])[ \t]+(?!\[\d)|\n+")
_URL = re.compile(r"https?://\S+|\(link removed\)")
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")


@dataclass(frozen=True)
class Grounded:
    """The outcome of ``ground``: the kept text, the share of judged words kept, what was dropped."""

    text: str
    kept: float
    dropped: tuple[str, ...]

    @property
    def complete(self) -> bool:
        """Every sentence was kept."""
        return not self.dropped


def source_text(hit: SearchHit) -> str:
    """What a sentence citing ``hit`` is judged against: the passage the LLM was given, and the title."""
    return f"{hit.title}\n{hit.quote[1]}"


def supported(sentence: str, sources: Sequence[str]) -> bool:
    """Whether ``sources`` (the texts the sentence cites) support ``sentence`` (see the module docstring)."""
    bare = _URL.sub(" ", CITE.sub(" ", sentence))
    joined = "\n".join(sources)
    if not sources or share(words(bare), words(joined)) < SUPPORT_MIN:
        return False
    return set(_NUMBER.findall(bare)) <= set(_NUMBER.findall(joined))


def ground(text: str, hits: Sequence[SearchHit]) -> Grounded:
    """Keeps the sentences of ``text`` that the sources they cite support (see the module docstring).

    Parameters: ``text`` the LLM's reply with ``[n]`` citations; ``hits`` the sources as numbered in
    the prompt. Returns the kept text, the share of the reply's judged words that were kept, and the
    dropped sentences.
    """
    sources = [source_text(h) for h in hits]
    kept: list[str] = []
    dropped: list[str] = []
    total = supported_words = 0
    for line in text.splitlines():
        out: list[str] = []
        before = len(dropped)
        for sentence in _SENTENCE.split(line):
            sentence = sentence.strip()
            numbers = [int(n) for n in CITE.findall(sentence)]
            if any(not 1 <= n <= len(hits) for n in numbers):
                dropped.append(sentence)  # cites a source that does not exist
                continue
            wanted = words(_URL.sub(" ", CITE.sub(" ", sentence)))
            if not wanted and numbers:
                continue  # only citations: "[1] [2] [3]"
            if len(wanted) < MIN_JUDGED_WORDS:
                if _URL.search(sentence) and not numbers:
                    dropped.append(sentence)  # a bare link is a claim too: "2. https://…"
                elif sentence:
                    out.append(sentence)
                continue
            total += len(wanted)
            if supported(sentence, [sources[n - 1] for n in sorted(set(numbers))]):
                supported_words += len(wanted)
                out.append(sentence)
            else:
                dropped.append(sentence)
        if out and (len(dropped) == before or any(words(o) for o in out)):  # not a bare "2." left behind
            kept.append(" ".join(out))
    return Grounded("\n".join(kept).strip(), supported_words / total if total else 1.0, tuple(dropped))
