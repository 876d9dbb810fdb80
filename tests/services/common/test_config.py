"""The one config loader: defaults < YAML file < SOLACE_* environment."""

from __future__ import annotations

import pytest

from services.common.config import load_settings
from services.common.errors import InvalidArgument


def test_defaults_serve_on_50051():
    assert load_settings({}).grpc_port == 50051


def test_environment_overrides_file(tmp_path):
    config = tmp_path / "solace.yaml"
    config.write_text("grpc_port: 6001\nmax_turns: 10\n")
    settings = load_settings({"SOLACE_CONFIG_FILE": str(config), "SOLACE_GRPC_PORT": "6002"})
    assert settings.grpc_port == 6002
    assert settings.max_turns == 10


def test_bad_value_names_the_variable():
    with pytest.raises(InvalidArgument) as err:
        load_settings({"SOLACE_GRPC_PORT": "fifty"})
    assert err.value.field == "SOLACE_GRPC_PORT"


def test_unknown_file_key_is_rejected(tmp_path):
    config = tmp_path / "solace.yaml"
    config.write_text("grpc_prot: 1\n")
    with pytest.raises(InvalidArgument, match="grpc_prot"):
        load_settings({"SOLACE_CONFIG_FILE": str(config)})
