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


def test_the_backend_setting_chooses_onnx_when_exported_else_torch(settings, tmp_path):
    import kb_index
    from api.settings import REPO_ROOT

    onnx_dir = REPO_ROOT / "var" / "onnx"
    exported = kb_index.export_onnx(kb_index.default_model_path(), onnx_dir / kb_index.MODEL_NAME)  # `make model`
    with_onnx = settings.model_copy(update={"kb_embed_backend": "onnx", "kb_onnx_dir": onnx_dir})
    loaded = embedding.get_embedder(with_onnx)
    assert loaded.backend == "onnx" and loaded.onnx_path == exported
    assert embedding.get_kb_embedder(with_onnx) is loaded  # the KB's model is the triage MiniLM: one instance
    assert loaded.model_id == kb_index.MODEL_NAME  # its vectors meet torch's in one index
    torch_only = settings.model_copy(update={"kb_embed_backend": "torch", "kb_onnx_dir": onnx_dir})
    assert embedding.get_embedder(torch_only).backend == "torch" and embedding.onnx_dir(torch_only) is None
    missing = settings.model_copy(update={"kb_embed_backend": "onnx", "kb_onnx_dir": tmp_path})
    assert embedding.get_embedder(missing).backend == "torch"  # not exported there: torch, with a warning
