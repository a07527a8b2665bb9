"""The ONNX Runtime backend of the Embedder: the same MiniLM exported once, at setup time, int8-quantised.

``export(model_path, out_dir)`` reads a sentence-transformers directory (transformer + mean pooling + normalisation,
the bundled all-MiniLM-L6-v2 is one), exports the transformer with the pooling and the normalisation inside the
graph (``torch.onnx``, opset 17), lets ONNX Runtime fuse it for BERT (attention, layer norm, GELU) and quantises
its weights to int8 (dynamic quantisation: activations stay float). Nothing is downloaded. It writes
``model_int8.onnx`` and ``source.json`` (what it was made from) and does nothing when both are there for the same
weights, so it can run on every setup.

``OnnxEncoder`` runs that file with the model's own tokenizer (truncated at the model's ``max_seq_length``, padded
per batch, batches of similar length as sentence-transformers does). Its vectors are the torch model's to a cosine
of ≥ 0.99 (tests/kb_index/test_kb_onnx.py checks every chunk of the demo KB), so vectors of both backends carry the
same model id and meet in one index.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer

log = logging.getLogger(__name__)
FILE = "model_int8.onnx"
SOURCE = "source.json"
FORMAT = "2"  # bump when the export changes: every setup then makes the file again
# Kept in float: each layer's feed-forward output projection. Its input (after GELU) has outliers that per-tensor
# activation quantisation flattens. Worst cosine to torch over the demo KB's chunks / the eval questions: all int8
# 0.986 / -, layers 0-1 in float 0.991 / 0.9896, all six in float 0.993 / 0.991 (the rest stays int8).
FLOAT_NODES = re.compile(r"layer\.\d+/output/dense/MatMul$")


class ExportError(ValueError):
    """The model directory cannot be exported (not a mean-pooling sentence-transformers model, …)."""


def _weights(model_path: Path) -> Path:
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (model_path / name).is_file():
            return model_path / name
    raise ExportError(f"{model_path}: no model.safetensors or pytorch_model.bin")


def source(model_path: Path) -> dict[str, Any]:
    """What an export of ``model_path`` is made from: compared with the ``source.json`` beside an exported file."""
    weights = _weights(model_path)
    return {"format": FORMAT, "model": str(model_path.resolve()), "weights": weights.name,
            "weights_bytes": weights.stat().st_size, "max_seq_length": max_seq_length(model_path)}


def max_seq_length(model_path: Path) -> int:
    try:
        return int(json.loads((model_path / "sentence_bert_config.json").read_text())["max_seq_length"])
    except (OSError, ValueError, KeyError):
        return 512


def _check_pipeline(model_path: Path) -> None:
    """Only transformer → mean pooling → normalize is exported (that is what the graph computes)."""
    try:
        modules = [m["type"].rsplit(".", 1)[-1] for m in json.loads((model_path / "modules.json").read_text())]
        pooling = next(m for m in json.loads((model_path / "modules.json").read_text()) if m["type"].endswith("Pooling"))
        config = json.loads((model_path / pooling["path"] / "config.json").read_text())
    except (OSError, ValueError, KeyError, StopIteration) as exc:
        raise ExportError(f"{model_path}: not a sentence-transformers directory with a pooling module") from exc
    modes = {k for k, v in config.items() if k.startswith("pooling_mode") and v}
    if modules != ["Transformer", "Pooling", "Normalize"] or modes != {"pooling_mode_mean_tokens"}:
        raise ExportError(f"{model_path}: modules {modules}, pooling {sorted(modes)}; only Transformer → mean "
                          "Pooling → Normalize is exported")


def current(model_path: Path, out_dir: Path) -> bool:
    """Whether ``out_dir`` holds an export of ``model_path``'s present weights."""
    try:
        return (out_dir / FILE).is_file() and json.loads((out_dir / SOURCE).read_text()) == source(model_path)
    except (OSError, ValueError, ExportError):
        return False


def current_file(model_path: Path, out_dir: Path) -> Path | None:
    """``out_dir``'s exported file when it is an export of ``model_path``'s present weights, else None."""
    return out_dir / FILE if current(model_path, out_dir) else None


def export(model_path: Path, out_dir: Path, *, force: bool = False) -> Path:
    """Exports ``model_path`` (a sentence-transformers directory) to ``out_dir/model_int8.onnx``; returns the file.

    Parameters: ``force`` export even when ``out_dir`` holds an export of the same weights.
    Raises ExportError for a model that is not transformer → mean pooling → normalize.
    """
    if not force and current(model_path, out_dir):
        return out_dir / FILE
    _weights(model_path)
    _check_pipeline(model_path)
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    import warnings

    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.optimizer import optimize_model
    from transformers import AutoConfig, AutoModel

    config = AutoConfig.from_pretrained(str(model_path), local_files_only=True)
    bert = AutoModel.from_pretrained(str(model_path), local_files_only=True, attn_implementation="eager").eval()

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                               token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        fp32, fused = Path(tmp) / "model.onnx", Path(tmp) / "fused.onnx"
        dummy = torch.ones((2, 8), dtype=torch.long)
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer warnings
            torch.onnx.export(
                Pooled(), (dummy, dummy, torch.zeros_like(dummy)), str(fp32), dynamo=False, opset_version=17,
                input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["embedding"],
                dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
                              "token_type_ids": {0: "batch", 1: "seq"}, "embedding": {0: "batch"}},
            )
        optimize_model(str(fp32), model_type="bert", num_heads=config.num_attention_heads,
                       hidden_size=config.hidden_size).save_model_to_file(str(fused))
        import onnx

        keep = [n.name for n in onnx.load(str(fused)).graph.node if FLOAT_NODES.search(n.name)]
        if len(keep) != config.num_hidden_layers:
            raise ExportError(f"{model_path}: expected {config.num_hidden_layers} feed-forward outputs, found {keep}")
        quantize_dynamic(str(fused), str(Path(tmp) / FILE), weight_type=QuantType.QInt8, per_channel=True,
                         nodes_to_exclude=keep, extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
        os.replace(Path(tmp) / FILE, out_dir / FILE)
    (out_dir / SOURCE).write_text(json.dumps(source(model_path), indent=2) + "\n")
    log.info("embedding model exported to ONNX (int8)", extra={"model": str(model_path), "file": str(out_dir / FILE)})
    return out_dir / FILE


class OnnxEncoder:
    """Runs an exported model: ``encode`` returns unit vectors like SentenceTransformer.encode.

    Parameters: ``file`` the exported ``model_int8.onnx``; ``model_path`` the model directory it was made from
    (its tokenizer); ``threads`` ONNX Runtime's intra-op threads (0: its default, one per core)."""

    def __init__(self, file: Path, model_path: Path, *, threads: int = 0) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # no busy-waiting between operators: on shared cores (other processes, the api's own event loop) spinning
        # threads took turns away from the work (demo KB: 75-132 chunks/s with spinning, 132-134 without, same run)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(file), options, providers=["CPUExecutionProvider"])
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.tokenizer = Tokenizer.from_file(str(model_path / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_seq_length(model_path))
        self.tokenizer.no_padding()
        self.dimensions = int(self.session.get_outputs()[0].shape[-1])

    @staticmethod
    def exported(model_path: Path, out_dir: Path) -> bool:
        """Whether ``out_dir`` holds an export of ``model_path``'s present weights (``current``)."""
        return current(model_path, out_dir)

    def get_sentence_embedding_dimension(self) -> int:
        return self.dimensions

    def encode(self, texts: Sequence[str], *, batch_size: int = 32, **_: Any) -> np.ndarray:
        """Unit vectors of ``texts`` (float32, in their order); batches of texts of similar length."""
        encodings = self.tokenizer.encode_batch(list(texts))
        order = np.argsort([-len(e.ids) for e in encodings], kind="stable")
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            width = max(len(encodings[i].ids) for i in idx)
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, i in enumerate(idx):
                n = len(encodings[i].ids)
                ids[row, :n] = encodings[i].ids
                mask[row, :n] = 1
            feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            out[idx] = self.session.run(None, {k: v for k, v in feed.items() if k in self.inputs})[0]
        return out
