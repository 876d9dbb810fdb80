"""Test-wide settings: Ray without token auth, no hub access, and the shared settings fixture."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Each test's encoder calls are its own: no embeddings shared with other processes or earlier
# runs through /dev/shm (tests/services/common/test_shared_embeddings.py turns it on).
os.environ.setdefault("SOLACE_SHARED_EMBEDDINGS_DIR", "")
# Helpers shared by tests in different folders (e.g. the tiny Llama of the vLLM tests).
sys.path.insert(0, str(Path(__file__).with_name("support")))

import pytest

from services.common.config import Settings, load_settings


@pytest.fixture(scope="session")
def settings() -> Settings:
    """The embedded defaults (models from ``solace models build``), read like a real process,
    with one exception: replies are written by the composer, so the hundreds of requests the
    suite sends take milliseconds each and their text is deterministic. The default engine, the
    llama.cpp model, has its own tests (tests/services/generator/test_engine_llamacpp.py,
    tests/services/router/test_llm_default.py) that run it through the platform."""
    return load_settings(default_engine="composer")
