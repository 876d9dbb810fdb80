"""Disk cache of sentence embeddings for training: ``<models_dir>/cache/<encoder version>/``.

Keyed by the SHA-1 of each text, per encoder version, so retraining (or a second task that
reads the same texts) never re-encodes a text, and a rebuilt encoder never reuses stale rows.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from services.common.config import Settings
from services.common.encoder import EMBEDDING_DIM, get_encoder


def _key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


class CachedEmbedder:
    """``embed(texts)`` like the encoder, served from disk where it can; ``save()`` persists."""

    def __init__(self, settings: Settings) -> None:
        self.encoder = get_encoder(settings)
        self.folder = Path(settings.models_dir) / "cache" / self.encoder.version
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / "embeddings.npz"
        self._index: dict[str, int] = {}
        self._rows: list[np.ndarray] = []
        if self.path.is_file():
            data = np.load(self.path)
            matrix = data["vectors"]
            self._rows = list(matrix)
            self._index = {str(k): i for i, k in enumerate(data["keys"])}
        self._dirty = False

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        keys = [_key(t) for t in texts]
        missing = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in self._index})
        if missing:
            lookup = {_key(t): t for t in texts}
            todo = [lookup[k] for k in missing]
            started = time.perf_counter()
            vectors = self.encoder.embed(todo)
            if len(todo) > 200:
                print(f"  encoded {len(todo)} new texts in {time.perf_counter() - started:.0f} s")
            for k, v in zip(missing, vectors, strict=True):
                self._index[k] = len(self._rows)
                self._rows.append(v)
            self._dirty = True
        if not keys:
            return np.zeros((0, EMBEDDING_DIM), np.float32)
        return np.stack([self._rows[self._index[k]] for k in keys]).astype(np.float32)

    def save(self) -> None:
        if not self._dirty:
            return
        keys = np.array(sorted(self._index, key=self._index.__getitem__))
        # A temporary name of this process's own: two trainers saving at once each replace the
        # file whole (the later one wins) instead of writing into each other's temporary file.
        tmp = self.folder / f"embeddings.{os.getpid()}.{id(self)}.tmp.npz"
        np.savez(tmp, keys=keys, vectors=np.stack(self._rows).astype(np.float32))
        tmp.replace(self.path)
        self._dirty = False
