"""Building blocks of the classifier features: embedding lookups shared by every service's
feature module (``services/<service>/features.py``), which serving and training both call, so
a model sees exactly the same columns in both places.

``embed`` is any function ``texts -> [N, 384]`` (the serving encoder, or the training cache in
front of it); each batch embeds every distinct text once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from services.common.encoder import EMBEDDING_DIM

Embed = Callable[[Sequence[str]], np.ndarray]


def embed_unique(texts: Sequence[str], embed: Embed) -> dict[str, np.ndarray]:
    """Embeddings of the distinct non-empty texts; the empty text maps to the zero vector."""
    unique = sorted({t for t in texts if t.strip()})
    table = {"": np.zeros(EMBEDDING_DIM, np.float32)}
    if unique:
        vectors = embed(unique)
        table.update(zip(unique, vectors, strict=True))
    return table


def lookup(table: dict[str, np.ndarray], text: str) -> np.ndarray:
    return table[text] if text.strip() else table[""]


class MemoEmbed:
    """``embed`` with a bounded memo of recent texts.

    Successive requests of one conversation repeat its situation and earlier turns: those
    texts are encoded once. Safe because the encoder is batch-invariant (same text, same
    vector).

    Thread-safe: the services call it from ``asyncio.to_thread`` workers, several at a time.
    The memo is read and written under a lock; the encoder runs outside it (ONNX Runtime
    releases the GIL), and a call's vectors are kept for its own answer, so another thread's
    eviction cannot take them away between encoding and stacking.

    ``shared``: the machine's ``SharedEmbeddings`` for this encoder, looked up before encoding
    and given what this process encodes, so a text another service already encoded (the
    newest turn, which the risk screen embeds first) is read instead of encoded again.
    """

    def __init__(self, embed: Embed, capacity: int = 4096, shared: Any = None) -> None:
        self._embed = embed
        self._capacity = capacity
        self._shared = shared
        self._memo: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    def put(self, text: str, vector: np.ndarray) -> None:
        """Remember ``text``'s vector, encoded elsewhere by the same encoder (defense evidence
        gets it from the run that reads the token vectors)."""
        self._remember({text: vector})
        if self._shared is not None:
            self._shared.put(text, vector)

    def share(self, key: str, vector: np.ndarray, kind: bytes) -> None:
        """Put a vector other than an embedding (``kind`` names what it is) in the machine's
        shared embeddings only, for another service; nothing without sharing."""
        if self._shared is not None:
            self._shared.put(key, vector, kind)

    def shared_get(self, key: str, kind: bytes) -> np.ndarray | None:
        """What another service ``share``d under ``key`` and ``kind``, if still there."""
        return None if self._shared is None else self._shared.get(key, kind)

    def knows(self, text: str) -> bool:
        """Whether ``text``'s vector is in the memo or the machine's shared embeddings (a
        shared one is kept in the memo, so the call that follows does not read it again)."""
        with self._lock:
            if text in self._memo:
                return True
        vector = None if self._shared is None else self._shared.get(text)
        if vector is None:
            return False
        self._remember({text: vector})
        return True

    @property
    def shares(self) -> bool:
        """Whether this memo reads and writes the machine's shared embeddings."""
        return self._shared is not None

    def _remember(self, vectors: dict[str, np.ndarray]) -> None:
        with self._lock:
            for text, vector in vectors.items():
                if text not in self._memo and len(self._memo) >= self._capacity:
                    # Oldest first: dicts keep insertion order.
                    self._memo.pop(next(iter(self._memo)))
                self._memo[text] = vector

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        distinct = list(dict.fromkeys(texts))
        with self._lock:
            known = {t: self._memo[t] for t in distinct if t in self._memo}
        missing = [t for t in distinct if t not in known]
        if missing and self._shared is not None:
            found = {t: v for t in missing if (v := self._shared.get(t)) is not None}
            if found:
                self._remember(found)
                known.update(found)
                missing = [t for t in missing if t not in found]
        if missing:
            encoded = dict(zip(missing, self._embed(missing), strict=True))
            self._remember(encoded)
            known.update(encoded)
            if self._shared is not None:
                for text, vector in encoded.items():
                    self._shared.put(text, vector)
        if not texts:
            return np.zeros((0, EMBEDDING_DIM), np.float32)
        return np.stack([known[t] for t in texts])


def memo_embed(encoder: Any, settings: Any, capacity: int = 4096) -> MemoEmbed:
    """The serving ``MemoEmbed`` in front of ``encoder``: with the machine's shared embeddings
    for its build unless ``settings.shared_embeddings_dir`` is empty, there are no settings, or
    the encoder names no build (a stand-in encoder shares nothing)."""
    from services.common.shared_embeddings import DEFAULT_MAX_AGE_S, open_shared_embeddings

    directory = getattr(settings, "shared_embeddings_dir", "")
    max_age_s = getattr(settings, "shared_embeddings_max_age_s", DEFAULT_MAX_AGE_S)
    version = getattr(encoder, "version", "")
    shared = (
        open_shared_embeddings(directory, version, EMBEDDING_DIM, max_age_s=max_age_s)
        if version
        else None
    )
    return MemoEmbed(encoder.embed, capacity, shared)
