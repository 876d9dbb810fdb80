"""Where the reply LLM lives: the paths ``solace models build`` writes and the ``llamacpp``
engine reads (the GGUF and the strategy bias table built with its tokenizer), and the build's
manifest beside the file.

The build (``solace_cli.modelbuild``, a tool) and the engine (the product) share these so the
serving code never imports the build.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from services.common.config import Settings

LLM_NAME = "SmolLM2-135M-Instruct"
LLM_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
BIAS_TABLE_FILE = "strategy_bias.npz"
# ``SOLACE_LLM_BIAS_TABLE=off``: conditioning by the prompt only, even where a table exists.
BIAS_TABLE_OFF = "off"


def llm_dir(settings: Settings) -> Path:
    return Path(settings.models_dir) / "llm"


def built_llm_path(settings: Settings) -> Path:
    """Where the build puts SmolLM2 (whatever ``llm_model`` says)."""
    return llm_dir(settings) / LLM_FILE


def llm_model_path(settings: Settings) -> Path:
    """The GGUF file the ``llamacpp`` engine serves: ``llm_model`` when set, else the build's."""
    return Path(settings.llm.model) if settings.llm.model else built_llm_path(settings)


def built_bias_table_path(settings: Settings) -> Path:
    """Where the build puts the strategy bias table for SmolLM2's tokenizer."""
    return llm_dir(settings) / BIAS_TABLE_FILE


def llm_bias_table_path(settings: Settings) -> Path | None:
    """The bias table the ``llamacpp`` engine conditions with: ``llm_bias_table`` when set
    (``off``: none), else the build's table when the engine serves the built SmolLM2 (a table
    of one tokenizer means nothing to another model's), else none."""
    named = settings.llm.bias_table.strip()
    if named.lower() == BIAS_TABLE_OFF:
        return None
    if named:
        return Path(named)
    return None if settings.llm.model else built_bias_table_path(settings)


def llm_manifest(path: Path) -> dict[str, Any] | None:
    """The build manifest that describes the GGUF at ``path``, or None (another file)."""
    manifest_path = path.parent / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return manifest if manifest.get("file") == path.name else None
