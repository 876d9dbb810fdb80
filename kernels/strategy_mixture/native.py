"""The fused CPU mixture step (``cpu_mixture.c``): built with the machine's C compiler at first
use, loaded with ctypes, and absent (``load()`` returns None) wherever that cannot happen.

Why native code: at the vocabularies of a CPU engine the prepared PyTorch step spends its time
on per-operation dispatch and on sweeping [R, V] buffers about ten times; one C pass per row
does the same arithmetic once (``docs/kernels.md``, "Fused CPU step"). Nothing depends on it:
without a compiler, on a CPU it cannot build for, or with ``SOLACE_NATIVE_MIXTURE=0`` the
PyTorch step runs instead, with the same results to fp32 rounding.

The library is compiled for the CPU it runs on (``-march=native``), so it is a build product of
the machine, never committed or shipped: it lives in ``$SOLACE_KERNEL_CACHE`` (default
``~/.cache/solace/kernels``) under a name that hashes the source, the flags and the machine, and
is written to a temporary file and renamed, so processes that build it at once do not collide.
``python -m kernels.strategy_mixture.native`` builds it ahead of time and prints where it is.
"""

from __future__ import annotations

import ctypes
import hashlib
import itertools
import math
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

ENV_SWITCH = "SOLACE_NATIVE_MIXTURE"
ENV_CACHE = "SOLACE_KERNEL_CACHE"
SOURCE = Path(__file__).with_name("cpu_mixture.c")
_ABI = 2
# glibc's vector math library first (vectorised expf/logf), then plain scalar libm.
_FLAG_SETS = (
    ("-O3", "-march=native", "-fopenmp-simd", "-DSOLACE_MVEC", "-lmvec", "-lm"),
    ("-O3", "-march=native", "-fopenmp-simd", "-lm"),
)

# The largest |error| a library may show on the self-check's case before it is refused. Sound
# builds stay near 1e-5 (fp32 sums over the vocabulary); a vector math library that is wrong on
# some CPU (seen once on a CI host: 1.7e-4 on one token of 500) must not serve.
SELF_CHECK_TOLERANCE = 5e-5

_lock = threading.Lock()
_loaded: dict[str, Any] = {}


class NativeMixture:
    """The loaded library: ``rows_(...)`` runs the fused step on fp32 CPU tensors in place."""

    def __init__(self, library: ctypes.CDLL, path: Path, flags: tuple[str, ...]) -> None:
        self.path = path
        self.vectorised = "-DSOLACE_MVEC" in flags
        fn = library.solace_mixture_rows
        fn.restype = None
        fn.argtypes = [
            ctypes.c_void_p,  # logits
            ctypes.c_int64,  # row stride
            ctypes.c_void_p,  # row indices or NULL
            ctypes.c_int64,  # rows
            ctypes.c_int64,  # vocabulary
            ctypes.c_void_p,  # factors [S, V]
            ctypes.c_void_p,  # probs [R, S]
            ctypes.c_int64,  # strategies
        ]
        self._fn = fn
        library.solace_mixture_max_strategies.restype = ctypes.c_int
        self.max_strategies = int(library.solace_mixture_max_strategies())
        # The self-check's max |error| on this machine (set when the build is loaded).
        self.check_error = math.nan

    def raw_rows(
        self, logits: Any, num_rows: int, vocab: int, factors: Any, probs: Any, strategies: int
    ) -> None:
        """The step on contiguous ctypes float arrays (the self-check's way in, no torch)."""
        self._fn(logits, vocab, None, num_rows, vocab, factors, probs, strategies)

    def rows_(
        self,
        logits: Any,
        index: Any | None,
        num_rows: int,
        factors: Any,
        probs: Any,
    ) -> None:
        """Overwrite ``num_rows`` rows of ``logits`` (the first ones, or those in the int64
        tensor ``index``) with the mixture. No checks here: the caller (the prepared step)
        guarantees fp32 CPU tensors, unit stride within rows, contiguous ``factors`` [S, V]
        with S at most ``max_strategies``, and contiguous ``probs`` [num_rows, S]."""
        self._fn(
            logits.data_ptr(),
            logits.stride(0),
            None if index is None else index.data_ptr(),
            num_rows,
            logits.shape[1],
            factors.data_ptr(),
            probs.data_ptr(),
            factors.shape[0],
        )


def enabled() -> bool:
    """False when ``SOLACE_NATIVE_MIXTURE`` turns the native step off (0, false, no, off)."""
    return os.environ.get(ENV_SWITCH, "1").strip().lower() not in ("0", "false", "no", "off")


def load() -> NativeMixture | None:
    """The native step, built on first use; None where it is switched off or cannot build."""
    if not enabled():
        return None
    key = str(SOURCE)
    with _lock:
        if key not in _loaded:
            _loaded[key] = _build_and_load()
        return _loaded[key]


def _cache_dir() -> Path:
    configured = os.environ.get(ENV_CACHE)
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "solace" / "kernels"


def _compiler() -> str | None:
    return os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")


def _library_path(source: bytes, compiler: str, flags: tuple[str, ...]) -> Path:
    # -march=native ties the binary to this CPU model, so the machine is part of the name.
    digest = hashlib.sha256()
    for part in (source, compiler.encode(), " ".join(flags).encode(), _cpu_signature().encode()):
        digest.update(part)
        digest.update(b"\0")
    return _cache_dir() / f"cpu_mixture-{digest.hexdigest()[:16]}.so"


def _cpu_signature() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.machine()
    lines = [ln for ln in text.splitlines() if ln.startswith(("model name", "flags", "Features"))]
    # Every core reports the same lines; the first of each kind names the machine.
    seen: dict[str, str] = {}
    for line in lines:
        seen.setdefault(line.split(":", 1)[0].strip(), line)
    return platform.machine() + "\n" + "\n".join(seen.values())


def _build_and_load() -> NativeMixture | None:
    compiler = _compiler()
    if compiler is None or not SOURCE.exists():
        return None
    source = SOURCE.read_bytes()
    for flags in _FLAG_SETS:
        path = _library_path(source, compiler, flags)
        if not path.exists() and not _compile(compiler, flags, path):
            continue
        library = _open(path)
        if library is None:
            continue
        native = NativeMixture(library, path, flags)
        native.check_error = self_check(native.raw_rows)
        if native.check_error <= SELF_CHECK_TOLERANCE:
            return native
    return None


# (logits, rows, vocab, factors, probs, strategies) on ctypes float arrays, logits in place.
RowsFn = Callable[[ctypes.Array, int, int, ctypes.Array, ctypes.Array, int], None]


def self_check(rows: RowsFn, vocab: int = 2048, strategies: int = 8, seed: int = 0) -> float:
    """The largest |error| of ``rows`` (a library's step on ctypes arrays) against the
    definition computed in double precision, on a seeded case that spans the inputs an engine
    sends: logits at two scales, factors down to exp(-20), probabilities with zeros. A build is
    used only where this stays within ``SELF_CHECK_TOLERANCE``: the flags, the compiler and the
    vector math library are the machine's, so accuracy is checked on the machine."""
    rng = random.Random(seed)
    rows_logits = [[rng.gauss(0.0, scale) for _ in range(vocab)] for scale in (4.0, 8.0)]
    factors = [[math.exp(-20.0 * rng.random()) for _ in range(vocab)] for _ in range(strategies)]
    probs = []
    for r in range(len(rows_logits)):
        row = [0.0 if (r + s) % 3 == 0 else rng.random() for s in range(strategies)]
        total = sum(row)
        probs.append([p / total for p in row])
    logits_c, factors_c, probs_c = map(_fp32_array, (rows_logits, factors, probs))
    rows(logits_c, len(rows_logits), vocab, factors_c, probs_c, strategies)
    # What the library was given: the same values rounded to fp32.
    fac = [_as_fp32(f) for f in factors]
    worst = 0.0
    for r, raw in enumerate(rows_logits):
        row = _as_fp32(raw)
        m = max(row)
        exps = [math.exp(x - m) for x in row]
        weights = [
            p / sum(e * f for e, f in zip(exps, fac[s], strict=True)) if p else 0.0
            for s, p in enumerate(_as_fp32(probs[r]))
        ]
        for y in range(vocab):
            q = sum(w * fac[s][y] for s, w in enumerate(weights))
            expected = (row[y] - m) + math.log(q)
            error = abs(logits_c[r * vocab + y] - expected)
            if not math.isfinite(error):
                return math.inf
            worst = max(worst, error)
    return worst


def _fp32_array(matrix: list[list[float]]) -> ctypes.Array:
    """A row-major ctypes float array of ``matrix``."""
    return (ctypes.c_float * sum(map(len, matrix)))(*itertools.chain.from_iterable(matrix))


def _as_fp32(values: list[float]) -> list[float]:
    return list((ctypes.c_float * len(values))(*values))


def _compile(compiler: str, flags: tuple[str, ...], path: Path) -> bool:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(suffix=".so", dir=path.parent)
        os.close(fd)
    except OSError:
        return False
    # Linker inputs (-l...) go after the source, as the linker reads them in order.
    compile_flags = [f for f in flags if not f.startswith("-l")]
    libraries = [f for f in flags if f.startswith("-l")]
    command = [compiler, *compile_flags, "-fPIC", "-shared", str(SOURCE), "-o", temporary]
    try:
        done = subprocess.run([*command, *libraries], capture_output=True, timeout=120, check=False)
        if done.returncode != 0:
            return False
        os.replace(temporary, path)
        return True
    except (OSError, subprocess.SubprocessError):
        return False
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def _open(path: Path) -> ctypes.CDLL | None:
    try:
        library = ctypes.CDLL(str(path))
        library.solace_mixture_abi.restype = ctypes.c_int
        if library.solace_mixture_abi() != _ABI:
            return None
        return library
    except (OSError, AttributeError):
        return None


def main() -> int:
    """Build (or find) the library and say where it is; exit 1 when it cannot be built."""
    native = load()
    if native is None:
        reason = "switched off" if not enabled() else "no C compiler or the build failed"
        print(f"native strategy-mixture step unavailable ({reason})", file=sys.stderr)
        return 1
    kind = "vectorised exp/log (libmvec)" if native.vectorised else "scalar exp/log"
    print(f"{native.path} ({kind}; self-check max error {native.check_error:.1e})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
