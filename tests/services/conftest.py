"""Fixtures shared by the service tests: the built sentence encoder, once per session.

``solace models build`` is idempotent: on a machine that already built the encoder this only
checks hashes; on a fresh one it exports and quantises (about 10 s).
"""

from __future__ import annotations

import os

import pytest

from services.common.config import Settings, load_settings


@pytest.fixture(scope="session")
def model_settings() -> Settings:
    """Settings whose ``models_dir`` holds a verified encoder build; replies by the composer,
    as with the suite's ``settings`` (tests/conftest.py)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from solace_cli.modelbuild import build_models

    settings = load_settings(default_engine="composer")
    build_models(settings)
    return settings
