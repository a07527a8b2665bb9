"""Clustering unanswered questions by meaning (real embeddings)."""

from __future__ import annotations

import numpy as np

import kb_index

PARKING = ["how do i get a parking permit", "where can i park my car at the office", "parking permit application"]
EXPENSES = ["how do i submit an expense claim", "expense report for my train tickets", "reimbursement of travel costs"]
ODD = ["the coffee machine on floor two is leaking"]


async def test_questions_group_by_topic(embedder):
    texts = PARKING + EXPENSES + ODD
    clusters = kb_index.cluster_texts(texts, await embedder.aembed(texts), threshold=0.4)
    groups = sorted(sorted(texts[i] for i in c.members) for c in clusters)
    assert groups == sorted([sorted(PARKING), sorted(EXPENSES), ODD])
    parking = next(c for c in clusters if texts[c.members[0]] in PARKING)
    assert "parking" in parking.keywords and "parking" in parking.title.lower()
    assert parking.title[0].isupper() and not parking.title.endswith("?")
    assert [len(c.members) for c in clusters] == [3, 3, 1]  # largest first


async def test_min_size_drops_singletons(embedder):
    texts = PARKING + ODD
    clusters = kb_index.cluster_texts(texts, await embedder.aembed(texts), threshold=0.4, min_size=2)
    assert len(clusters) == 1 and sorted(texts[i] for i in clusters[0].members) == sorted(PARKING)


def test_threshold_controls_merging():
    vectors = np.array([[1, 0], [0.96, 0.28], [0, 1]], dtype=np.float32)
    assert len(kb_index.cluster_texts(["a", "b", "c"], vectors, threshold=0.9)) == 2
    assert len(kb_index.cluster_texts(["a", "b", "c"], vectors, threshold=0.99)) == 3
    assert kb_index.cluster_texts([], np.zeros((0, 2), dtype=np.float32)) == []


def test_suggested_titles_are_tidy():
    assert kb_index.suggest_title("  how do i get a parking permit??  ") == "How do i get a parking permit"
    assert len(kb_index.suggest_title("word " * 50)) <= 80
