"""Grouping texts by meaning: average-linkage agglomerative clustering on cosine similarity.

Starts with one cluster per text and repeatedly merges the two clusters with the highest average
pairwise similarity until that falls below ``threshold``. O(n²) memory, fine for the few hundred
recent unanswered questions and tickets that KB trends look at (capped by the caller).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

_WORD = re.compile(r"[a-z][a-z0-9'-]+")
_STOP = frozenset("""a about after again all also am an and any are as at be been before being but by can cannot
could did do does doing dont for from get gets getting got had has have having help how i if im in into is it its
just keep keeps me my need needs no not now of on one or our out please so some still than that the their them then
there this to too up us was we were what when where which while who why will with work working would you your""".split())


@dataclass(frozen=True)
class Cluster:
    members: tuple[int, ...]  # indices into the input, most central first
    cohesion: float  # mean similarity of the members to the centre member
    keywords: tuple[str, ...]
    title: str


def cluster_texts(texts: Sequence[str], vectors: np.ndarray, *, threshold: float = 0.4,
                  min_size: int = 1) -> list[Cluster]:
    """Clusters ``texts`` by their unit ``vectors``.

    Parameters: ``threshold`` the average cosine similarity two clusters need to merge;
    ``min_size`` smaller clusters are left out. Returns clusters, largest first, each with its
    members (most central first), keywords and a suggested article title.
    """
    groups = _agglomerate(np.asarray(vectors, dtype=np.float32), threshold)
    out = []
    for members in groups:
        if len(members) < min_size:
            continue
        sub = vectors[members] @ vectors[members].T
        centrality = sub.mean(axis=1)
        order = [members[i] for i in np.argsort(-centrality, kind="stable")]
        out.append(Cluster(tuple(order), round(float(centrality.max()), 4), keywords([texts[i] for i in members]),
                           suggest_title(texts[order[0]])))
    return sorted(out, key=lambda c: (-len(c.members), -c.cohesion))


def _agglomerate(vectors: np.ndarray, threshold: float) -> list[list[int]]:
    n = len(vectors)
    if n == 0:
        return []
    sim = (vectors @ vectors.T).astype(np.float64)
    np.fill_diagonal(sim, -np.inf)
    sizes = np.ones(n)
    members: dict[int, list[int]] = {i: [i] for i in range(n)}
    while len(members) > 1:
        flat = int(np.argmax(sim))
        i, j = divmod(flat, n)
        if sim[i, j] < threshold:
            break
        merged = (sizes[i] * sim[i] + sizes[j] * sim[j]) / (sizes[i] + sizes[j])
        sim[i, :] = merged
        sim[:, i] = merged
        sim[i, i] = -np.inf
        sim[j, :] = -np.inf
        sim[:, j] = -np.inf
        sizes[i] += sizes[j]
        members[i] += members.pop(j)
    return list(members.values())


def keywords(texts: Sequence[str], k: int = 4) -> tuple[str, ...]:
    """The ``k`` words most of ``texts`` share (stop words left out), most common first."""
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update({w for w in _WORD.findall(text.lower()) if w not in _STOP})
    return tuple(w for w, _ in counts.most_common(k))


def suggest_title(text: str, max_chars: int = 80) -> str:
    """A tidy article title from a representative question: first line, capitalised, shortened."""
    line = re.sub(r"\s+", " ", text.strip().splitlines()[0] if text.strip() else "").strip(" ?.!:-")
    if len(line) > max_chars:
        line = line[:max_chars].rsplit(" ", 1)[0]
    return line[:1].upper() + line[1:] if line else "Untitled"
