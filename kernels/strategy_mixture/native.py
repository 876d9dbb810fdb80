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
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
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
        if library is not None:
            return NativeMixture(library, path, flags)
    return None


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
    print(f"{native.path} ({kind})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
