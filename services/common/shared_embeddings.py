"""Embeddings shared by the services of one machine, in a memory-mapped file.

Every service keeps its own ``MemoEmbed``; this is the level below it that the processes of one
machine share (Ray Serve replicas or standalone servers, started by the same user). A request's
newest seeker turn is new text to every service, and each of them embeds it: the risk screen
first, then the strategy predictor and the value detector. With this cache the first one
encodes it (about 3 ms of CPU for a 30-token turn) and the others read it (microseconds).

Layout: ``slots`` fixed records of (key, checksum, vector); a text's slot is given by its
16-byte BLAKE2b digest (the key), and a newer text simply replaces an older one in its slot. No
lock is taken across processes. A writer clears the key, writes the vector and its CRC-32, then
writes the key; a reader reads the key, the vector, the checksum and the key again, and uses the
vector only when both keys are the text's and the checksum (of key and vector) matches, so a
slot being rewritten reads as a miss, never as another text's vector. Vectors go in and come
out bit for bit, so a text has the same vector whichever service encoded it (the encoder is
batch-invariant).

The file's name carries the encoder version, the vector width, the slot count and the user id,
so an encoder rebuild starts a new cache; it lives in ``/dev/shm`` (memory, gone at reboot) and
is left there when the platform stops, for the next start to use.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import zlib
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

DEFAULT_DIR = "/dev/shm"
DEFAULT_SLOTS = 8192
_KEY_BYTES = 16


def _record_dtype(dim: int) -> np.dtype:
    return np.dtype(
        [("key", f"V{_KEY_BYTES}"), ("crc", "<u4"), ("spare", "<u4"), ("vec", "<f4", (dim,))]
    )


def _checksum(key: bytes, vector: np.ndarray) -> int:
    # Over the key too: a vector of another text, seen out of order on a weakly ordered CPU,
    # does not check out under this text's key.
    return zlib.crc32(vector.tobytes(), zlib.crc32(key))


class SharedEmbeddings:
    """``get(text)`` / ``put(text, vector)`` over a memory-mapped file of ``slots`` records."""

    def __init__(self, path: Path, dim: int, slots: int = DEFAULT_SLOTS) -> None:
        self.path = Path(path)
        self.dim = dim
        self.slots = slots
        dtype = _record_dtype(dim)
        size = dtype.itemsize * slots
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            # Every process asks for the same size; a new file reads as empty slots (zeros).
            if os.fstat(fd).st_size != size:
                os.ftruncate(fd, size)
        finally:
            os.close(fd)
        self._records = np.memmap(self.path, dtype=dtype, mode="r+", shape=(slots,))
        self._keys = self._records["key"]
        self._crcs = self._records["crc"]
        self._vecs = self._records["vec"]
        # Threads of one process write through the same mapping; one writer per process at a
        # time keeps a slot's clear-write-set sequence whole within the process.
        self._write_lock = threading.Lock()

    def _slot(self, text: str, kind: bytes) -> tuple[int, bytes]:
        digest = hashlib.blake2b(text.encode("utf-8"), digest_size=_KEY_BYTES, person=kind)
        key = digest.digest()
        return int.from_bytes(key[:8], "little") % self.slots, key

    def get(self, text: str, kind: bytes = b"") -> np.ndarray | None:
        """``text``'s vector if a process of this machine stored it and it is still there.
        ``kind`` (up to 16 bytes) keeps other vectors than a text's embedding apart: keys of
        different kinds never collide, whatever the texts."""
        slot, key = self._slot(text, kind)
        if self._keys[slot].tobytes() != key:
            return None
        vector = np.array(self._vecs[slot], dtype=np.float32)
        crc = int(self._crcs[slot])
        if self._keys[slot].tobytes() != key or _checksum(key, vector) != crc:
            return None  # being rewritten: a miss
        return vector

    def put(self, text: str, vector: np.ndarray, kind: bytes = b"") -> None:
        """Store ``text``'s vector (replacing whatever text had its slot)."""
        vector = np.ascontiguousarray(vector, dtype=np.float32).reshape(self.dim)
        slot, key = self._slot(text, kind)
        with self._write_lock:
            self._keys[slot] = np.void(bytes(_KEY_BYTES))
            self._vecs[slot] = vector
            self._crcs[slot] = _checksum(key, vector)
            self._keys[slot] = np.void(key)


_opened: dict[tuple[str, str, int, int], SharedEmbeddings | None] = {}
_opened_lock = threading.Lock()


def open_shared_embeddings(
    directory: str, encoder_version: str, dim: int, slots: int = DEFAULT_SLOTS
) -> SharedEmbeddings | None:
    """The machine's shared cache for this encoder, opened once per process; None when
    ``directory`` is empty (sharing off) or cannot hold it (the services then encode alone)."""
    if not directory:
        return None
    key = (directory, encoder_version, dim, slots)
    with _opened_lock:
        if key not in _opened:
            name = f"solace-embeddings-{encoder_version}-{dim}x{slots}-{os.getuid()}.bin"
            try:
                _opened[key] = SharedEmbeddings(Path(directory) / name, dim, slots)
            except OSError as exc:
                log.warning("shared embeddings off: cannot map %s (%s)", directory, exc)
                _opened[key] = None
        return _opened[key]
