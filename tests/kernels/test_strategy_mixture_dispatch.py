"""The dispatcher: backend choice, forcing it, and importing without Triton."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

torch = pytest.importorskip("torch")

from kernels.strategy_mixture import (  # noqa: E402
    HAS_TRITON,
    choose_backend,
    strategy_mixture,
    strategy_mixture_pytorch,
)


def test_cpu_defaults_to_the_factored_pytorch_path(monkeypatch):
    monkeypatch.delenv("SOLACE_KERNEL_BACKEND", raising=False)
    assert choose_backend(torch.zeros(64, 32_000)) == "factored"


@pytest.mark.parametrize("backend", ["reference", "factored", "auto"])
def test_backend_can_be_forced_by_environment(monkeypatch, backend):
    monkeypatch.setenv("SOLACE_KERNEL_BACKEND", backend.upper())
    expected = "factored" if backend == "auto" else backend
    assert choose_backend(torch.zeros(2, 8)) == expected


def test_argument_wins_over_environment(monkeypatch):
    monkeypatch.setenv("SOLACE_KERNEL_BACKEND", "factored")
    assert choose_backend(torch.zeros(2, 8), backend="reference") == "reference"


def test_unknown_backend_is_an_error(monkeypatch):
    monkeypatch.setenv("SOLACE_KERNEL_BACKEND", "cuda-graphs")
    with pytest.raises(ValueError, match="unknown kernel backend"):
        choose_backend(torch.zeros(2, 8))


@pytest.mark.parametrize("backend", ["reference", "factored"] + (["triton"] if HAS_TRITON else []))
def test_every_backend_gives_the_reference_result(backend, case):
    """fp32: |Δ| ≤ 1e-4 + 1e-5·|ref| between implementations; a float strength is broadcast."""
    logits, bias, probs, _ = case(3, 333, seed=21)
    expected = strategy_mixture_pytorch(logits, bias, probs, torch.full((3,), 1.5))
    out = strategy_mixture(logits, bias, probs, 1.5, backend=backend)
    torch.testing.assert_close(out, expected, atol=1e-4, rtol=1e-5)


def test_package_imports_and_runs_without_triton():
    """With triton unimportable the package still imports, auto picks PyTorch, and asking for
    the kernel is a clear error."""
    script = textwrap.dedent(
        """
        import sys
        sys.modules["triton"] = None  # makes `import triton` raise ImportError
        import torch
        import kernels
        from kernels.strategy_mixture import HAS_TRITON, choose_backend, strategy_mixture
        assert not HAS_TRITON
        logits = torch.randn(2, 50)
        out = strategy_mixture(logits, torch.zeros(8, 50), torch.ones(2, 8), 1.0)
        assert torch.allclose(out, torch.log_softmax(logits, -1), atol=1e-5)
        try:
            choose_backend(logits, "triton")
        except RuntimeError as exc:
            assert "not installed" in str(exc)
        else:
            raise AssertionError("triton backend without triton")
        import kernels.logits_processor, kernels.bias_table  # no vllm needed either
        print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
