"""One loader of the embedding model for the api and the worker (api/kb/embedding.py)."""

from __future__ import annotations

from api.app import create_app
from api.kb import embedding


def test_the_api_uses_the_one_loader_with_the_configured_batch_size(settings):
    custom = settings.model_copy(update={"kb_embed_batch_size": 7})
    loaded = embedding.get_embedder(custom)
    assert loaded.batch_size == 7
    assert embedding.get_embedder(custom) is loaded  # one per process: the model loads once
    assert create_app(custom).state.embedder is loaded
    assert embedding.get_embedder(settings).batch_size == settings.kb_embed_batch_size
