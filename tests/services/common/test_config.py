"""The one config loader: defaults < YAML file < SOLACE_* environment."""

from __future__ import annotations

import pytest

from services.common.config import (
    SECTIONS,
    EscalationSettings,
    Settings,
    TlsSettings,
    load_settings,
    setting_names,
)
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


def test_a_section_keeps_its_flat_names_outside(tmp_path):
    """``settings.escalation.store_url`` is ``SOLACE_ESCALATION_STORE_URL`` and
    ``escalation_store_url:`` in the file, as before the settings had sections."""
    config = tmp_path / "solace.yaml"
    config.write_text("escalation_store_url: sqlite:///a.db\nllm_threads: 3\ntls_ca_file: ca\n")
    settings = load_settings(
        {
            "SOLACE_CONFIG_FILE": str(config),
            "SOLACE_LLM_THREADS": "2",
            "SOLACE_ESCALATION_INCLUDE_TEXT": "yes",
        },
        llm_model="/srv/m.gguf",
    )
    assert settings.escalation == EscalationSettings(store_url="sqlite:///a.db", include_text=True)
    assert settings.llm.threads == 2 and settings.llm.model == "/srv/m.gguf"
    assert settings.tls == TlsSettings(ca_file="ca")
    with pytest.raises(InvalidArgument) as err:
        load_settings({"SOLACE_ESCALATION_LEASE_S": "long"})
    assert err.value.field == "SOLACE_ESCALATION_LEASE_S"


def test_overrides_change_one_field_of_a_section_or_the_whole_section():
    base = Settings().with_overrides(escalation_webhook_url="http://ops", escalation_lease_s=90.0)
    changed = base.with_overrides(escalation_lease_s=30.0)
    assert changed.escalation.webhook_url == "http://ops" and changed.escalation.lease_s == 30.0
    assert base.escalation.lease_s == 90.0  # frozen: a copy
    assert base.with_overrides(tls=TlsSettings(cert_file="c")).tls.cert_file == "c"
    with pytest.raises(TypeError, match="escalation_leese_s"):
        base.with_overrides(escalation_leese_s=1.0)
    # Every outside name is a section's field or a top-level one, each exactly once.
    names = setting_names()
    assert names["escalation_store_url"] == ("escalation", "store_url")
    assert names["grpc_port"] == (None, "grpc_port")
    assert set(SECTIONS) == {"escalation", "tls", "llm", "serve", "access"}
    assert names["serve_topology"] == ("serve", "serve_topology")  # no prefix: as before
    assert not set(SECTIONS) & set(names)
