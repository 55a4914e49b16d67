"""Export the packaged all-MiniLM-L6-v2 to ONNX (needs torch; run in its own process).

``python -m stockbot.lessons.onnx_export --out DIR`` writes ``DIR/model.onnx`` (the BERT encoder,
output ``last_hidden_state``; pooling and normalisation stay in ``onnx_model``) with its weights
in ``model.onnx.data``, a copy of the tokenizer and ``meta.json``. Before it reports success it embeds a few texts with both
sentence-transformers and ONNX Runtime and refuses an export whose cosine falls below 0.9999,
so a broken exporter can never put a different model into the daemons' cache.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

CHECK_TEXTS = (
    "iron condor options on SPY; order type: mleg limit; IV rank 0.42; failures in similar setups",
    "we got filled twice: the first submit timed out so the bot sent it again",
    "short",
)
MIN_COSINE = 0.9999


def export(out: Path) -> dict:
    """Export into ``out`` (created); returns the metadata written to ``meta.json``."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import numpy as np
    import onnx
    import torch
    from sentence_transformers import SentenceTransformer

    from stockbot.lessons.onnx_model import EXPORT_FORMAT, MAX_SEQ_LENGTH, OnnxMiniLM, source_dir, source_key

    src = source_dir()
    st = SentenceTransformer(str(src), device="cpu")
    bert = st[0].auto_model.eval()

    class Encoder(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.model(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    out.mkdir(parents=True, exist_ok=True)
    graph = out / "graph.onnx"
    sample = st.tokenizer(["warm up the exporter"], return_tensors="pt")
    axes = {0: "batch", 1: "tokens"}
    with torch.no_grad():
        torch.onnx.export(Encoder(bert), (sample["input_ids"], sample["attention_mask"], sample["token_type_ids"]),
                          str(graph), input_names=["input_ids", "attention_mask", "token_type_ids"],
                          output_names=["last_hidden_state"], opset_version=17, do_constant_folding=True,
                          dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes,
                                        "last_hidden_state": axes}, dynamo=False)
    # Weights in one external file: ONNX Runtime then maps them instead of copying them into
    # each process (measured: 15 MB private instead of 100 MB per daemon without prepacking).
    onnx.save_model(onnx.load(str(graph)), str(out / "model.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="model.onnx.data", size_threshold=1024)
    graph.unlink()
    os.chmod(out / "model.onnx.data", 0o644)  # onnx writes it 0600; every account's user reads it
    shutil.copy(src / "tokenizer.json", out / "tokenizer.json")
    meta = {"model": "all-MiniLM-L6-v2", "source": source_key(src), "dim": 384, "max_seq_length": MAX_SEQ_LENGTH,
            "format": EXPORT_FORMAT, "torch": torch.__version__}
    (out / "meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    ref = st.encode(list(CHECK_TEXTS), normalize_embeddings=True, convert_to_numpy=True)
    got = OnnxMiniLM(out).encode(list(CHECK_TEXTS))
    worst = float(np.min(np.sum(ref * got, axis=1)))
    if worst < MIN_COSINE:
        (out / "meta.json").unlink()
        raise SystemExit(f"exported model disagrees with sentence-transformers: cosine {worst:.6f} < {MIN_COSINE}")
    meta["check_min_cosine"] = round(worst, 7)
    (out / "meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return meta


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m stockbot.lessons.onnx_export", description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, type=Path)
    args = ap.parse_args(argv)
    print(json.dumps(export(args.out)))
    return 0


if __name__ == "__main__":  # pragma: no cover - run as a child process by onnx_model.ensure_exported
    sys.exit(main())
