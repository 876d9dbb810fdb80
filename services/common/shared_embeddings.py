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
so an encoder rebuild starts a new cache. It lives in ``/dev/shm`` (memory, gone at reboot) and
holds embeddings of what people in distress wrote, so (``docs/safety.md``):

- it is owner-only: created 0600 (an existing file is set to 0600), never through a symlink,
  and a file another user owns is not used;
- entries are bounded in age: each slot carries its write time; an entry older than
  ``max_age_s`` is not served, and a sweep (at open, then every ``sweep_interval``) zeroes
  them in the file;
- it goes when the platform stops: every process holds a shared ``flock`` on it while it has
  it mapped, and the last one to close it (at exit, or ``close_shared_embeddings``) removes it;
  ``remove_unused`` removes the files no process holds (``solace serve`` calls it after Ray
  stops, for replicas that were killed rather than exited).
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import logging
import os
import stat
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

DEFAULT_DIR = "/dev/shm"
DEFAULT_SLOTS = 8192
DEFAULT_MAX_AGE_S = 900.0
FILE_PREFIX = "solace-embeddings-"
_KEY_BYTES = 16


def _record_dtype(dim: int) -> np.dtype:
    # ``stamp``: the slot's write time in whole seconds since the epoch (0 = empty).
    return np.dtype(
        [("key", "u1", (_KEY_BYTES,)), ("crc", "<u4"), ("stamp", "<u4"), ("vec", "<f4", (dim,))]
    )


def _checksum(key: bytes, vector: np.ndarray, stamp: int) -> int:
    # Over the key and the stamp too: a vector of another text, seen out of order on a weakly
    # ordered CPU, does not check out under this text's key, nor an old vector under a new time.
    head = zlib.crc32(stamp.to_bytes(4, "little"), zlib.crc32(key))
    return zlib.crc32(vector.tobytes(), head)


def _same_file(path: Path, fd: int) -> bool:
    """Whether ``path`` still names the file open as ``fd`` (not removed, not replaced)."""
    try:
        named = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)


def _open_owned(path: Path, size: int) -> int:
    """``path`` opened read-write, owner-only, ``size`` bytes, with a shared lock held.

    ``/dev/shm`` is writable by everyone: a symlink planted at the name is not followed, and a
    file another user made is not used. The lock is what tells the last process out that it
    may remove the file; a file removed between our open and our lock is opened again."""
    for _ in range(5):
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid():
                raise PermissionError(f"{path} is not a regular file of uid {os.getuid()}")
            os.fchmod(fd, 0o600)  # one an earlier version or a looser umask left readable
            fcntl.flock(fd, fcntl.LOCK_SH)
            if _same_file(path, fd):
                # Every process asks for the same size; a new file reads as empty slots.
                if os.fstat(fd).st_size != size:
                    os.ftruncate(fd, size)
                return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
    raise OSError(f"{path} kept being removed while it was opened")


def _remove_if_unused(path: Path, fd: int) -> bool:
    """Remove ``path`` when no other process holds its lock; ``fd`` is ours, open on it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False  # another process still has it mapped: the last one removes it
    if not _same_file(path, fd):
        return False
    os.unlink(path)
    return True


class SharedEmbeddings:
    """``get(text)`` / ``put(text, vector)`` over a memory-mapped file of ``slots`` records;
    ``close()`` when done (the last process to close it removes the file)."""

    def __init__(
        self,
        path: Path,
        dim: int,
        slots: int = DEFAULT_SLOTS,
        max_age_s: float = DEFAULT_MAX_AGE_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_age_s <= 0:
            raise ValueError(f"max_age_s must be positive, got {max_age_s}")
        self.path = Path(path)
        self.dim = dim
        self.slots = slots
        self.max_age_s = max_age_s
        self._clock = clock
        dtype = _record_dtype(dim)
        self._fd: int | None = _open_owned(self.path, dtype.itemsize * slots)
        # Mapped through the descriptor checked above, not the name, which may change.
        with os.fdopen(os.dup(self._fd), "r+b") as file:
            self._records = np.memmap(file, dtype=dtype, mode="r+", shape=(slots,))
        self._keys = self._records["key"]
        self._crcs = self._records["crc"]
        self._stamps = self._records["stamp"]
        self._vecs = self._records["vec"]
        # Threads of one process write through the same mapping; one writer per process at a
        # time keeps a slot's clear-write-set sequence whole within the process.
        self._write_lock = threading.Lock()
        self.sweep()

    def _slot(self, text: str, kind: bytes) -> tuple[int, bytes]:
        digest = hashlib.blake2b(text.encode("utf-8"), digest_size=_KEY_BYTES, person=kind)
        key = digest.digest()
        return int.from_bytes(key[:8], "little") % self.slots, key

    def _fresh(self, stamp: int) -> bool:
        return self._clock() - stamp <= self.max_age_s

    def get(self, text: str, kind: bytes = b"") -> np.ndarray | None:
        """``text``'s vector if a process of this machine stored it less than ``max_age_s``
        ago and it is still there. ``kind`` (up to 16 bytes) keeps other vectors than a text's
        embedding apart: keys of different kinds never collide, whatever the texts."""
        if self._fd is None:
            return None
        slot, key = self._slot(text, kind)
        if self._keys[slot].tobytes() != key:
            return None
        vector = np.array(self._vecs[slot], dtype=np.float32)
        crc, stamp = int(self._crcs[slot]), int(self._stamps[slot])
        if self._keys[slot].tobytes() != key or _checksum(key, vector, stamp) != crc:
            return None  # being rewritten: a miss
        return vector if self._fresh(stamp) else None

    def put(self, text: str, vector: np.ndarray, kind: bytes = b"") -> None:
        """Store ``text``'s vector (replacing whatever text had its slot)."""
        if self._fd is None:
            return
        vector = np.ascontiguousarray(vector, dtype=np.float32).reshape(self.dim)
        slot, key = self._slot(text, kind)
        stamp = int(self._clock())
        with self._write_lock:
            self._keys[slot] = 0
            self._vecs[slot] = vector
            self._stamps[slot] = stamp
            self._crcs[slot] = _checksum(key, vector, stamp)
            self._keys[slot] = np.frombuffer(key, np.uint8)

    def sweep(self) -> int:
        """Zero the slots written more than ``max_age_s`` ago (and any without a write time,
        which a file of an earlier version holds); returns how many."""
        if self._fd is None:
            return 0
        cutoff = self._clock() - self.max_age_s
        with self._write_lock:
            stamps = np.asarray(self._stamps)
            used = np.asarray(self._keys).any(axis=1) | (stamps != 0)
            stale = np.flatnonzero(used & (stamps < cutoff))
            # Key first: a reader of a slot being cleared sees a miss, never a zeroed vector.
            self._keys[stale] = 0
            self._vecs[stale] = 0
            self._crcs[stale] = 0
            self._stamps[stale] = 0
        return int(stale.size)

    def close(self) -> bool:
        """Stop using the file; remove it when no other process has it. Returns whether it
        was removed. Reads after this miss and writes are dropped."""
        if self._fd is None:
            return False
        fd, self._fd = self._fd, None
        try:
            return _remove_if_unused(self.path, fd)
        finally:
            os.close(fd)  # releases the lock; the mapping goes with the process


_opened: dict[tuple[str, str, int, int, float], SharedEmbeddings | None] = {}
_opened_lock = threading.Lock()
_sweeper: threading.Thread | None = None


def file_name(encoder_version: str, dim: int, slots: int = DEFAULT_SLOTS) -> str:
    """The cache file's name for this encoder build and user."""
    return f"{FILE_PREFIX}{encoder_version}-{dim}x{slots}-{os.getuid()}.bin"


def open_shared_embeddings(
    directory: str,
    encoder_version: str,
    dim: int,
    slots: int = DEFAULT_SLOTS,
    max_age_s: float = DEFAULT_MAX_AGE_S,
) -> SharedEmbeddings | None:
    """The machine's shared cache for this encoder, opened once per process; None when
    ``directory`` is empty (sharing off) or cannot hold it (the services then encode alone).
    It is closed at exit, so the last process of the machine to exit removes it."""
    if not directory:
        return None
    key = (directory, encoder_version, dim, slots, max_age_s)
    with _opened_lock:
        if key not in _opened:
            path = Path(directory) / file_name(encoder_version, dim, slots)
            try:
                _opened[key] = SharedEmbeddings(path, dim, slots, max_age_s)
            except OSError as exc:
                log.warning("shared embeddings off: cannot map %s (%s)", path, exc)
                _opened[key] = None
            else:
                _start_sweeper()
        return _opened[key]


def close_shared_embeddings() -> list[Path]:
    """Close every cache this process opened; the paths it removed (those no other process
    still had). Registered at exit; ``solace serve`` also calls it when it stops."""
    with _opened_lock:
        caches = [c for c in _opened.values() if c is not None]
        _opened.clear()
    return [c.path for c in caches if c.close()]


def _sweep_interval(max_age_s: float) -> float:
    # Expired entries stay in the file at most a quarter of their age longer (a minute at most).
    return min(60.0, max(1.0, max_age_s / 4))


def _start_sweeper() -> None:
    """One daemon thread per process that sweeps its caches, so an idle platform's file does
    not keep old entries either. Called with ``_opened_lock`` held."""
    global _sweeper
    if _sweeper is not None:
        return

    def loop() -> None:
        while True:
            with _opened_lock:
                caches = [c for c in _opened.values() if c is not None]
            interval = min((_sweep_interval(c.max_age_s) for c in caches), default=60.0)
            time.sleep(interval)
            for cache in caches:
                with contextlib.suppress(Exception):  # a sweep never takes a service down
                    cache.sweep()

    _sweeper = threading.Thread(target=loop, name="shared-embeddings-sweeper", daemon=True)
    _sweeper.start()


def remove_unused(directory: str, wait_s: float = 10.0) -> list[Path]:
    """Remove this user's cache files in ``directory`` that no process holds, waiting up to
    ``wait_s`` for processes that are still exiting (Ray's workers after ``ray.shutdown``) to
    let go; the paths removed. A file a live process holds is left to it."""
    if not directory or not Path(directory).is_dir():
        return []
    suffix = f"-{os.getuid()}.bin"
    pending = [p for p in Path(directory).glob(FILE_PREFIX + "*") if p.name.endswith(suffix)]
    removed: list[Path] = []
    deadline = time.monotonic() + wait_s
    while pending:
        for path in list(pending):
            if _remove_file_if_unused(path):
                removed.append(path)
                pending.remove(path)
            elif not path.exists():
                pending.remove(path)  # its last process removed it meanwhile
        if not pending or time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    return removed


def _remove_file_if_unused(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        if os.fstat(fd).st_uid != os.getuid():
            return False
        return _remove_if_unused(path, fd)
    finally:
        os.close(fd)


atexit.register(close_shared_embeddings)
