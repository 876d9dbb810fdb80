"""The service registry agrees with the generated code, the settings and the deployments it
names, so a wrong entry fails here rather than on the first call that uses it."""

from __future__ import annotations

import importlib

import pytest

from services.common.config import Settings
from services.common.serve_options import BATCHED, DEPLOYMENTS
from services.registry import BY_NAME, SERVICES, STANDALONE, Service
from services.router.serve_grpc import _Collect


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_an_entry_registers_exactly_its_rpcs(service: Service) -> None:
    collected = _Collect()
    servicer = type("Servicer", (), {r.method: None for r in service.rpcs})()
    service.add_to_server(servicer, collected)
    assert set(collected.services) == {service.full_name}
    assert set(collected.services[service.full_name]) == {r.method for r in service.rpcs}
    for rpc in service.rpcs:
        assert rpc.name == f"{service.full_name}/{rpc.method}"


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_an_entry_names_real_settings_and_a_real_deployment(service: Service) -> None:
    settings = Settings()
    assert settings.target(service.name).endswith(str(getattr(settings, f"{service.name}_port")))
    assert service.timeout_s(settings) > 0
    assert service.deployment in DEPLOYMENTS
    assert service.batched == (service.deployment in BATCHED)
    module, _, function = service.servicer_factory.partition(":")
    assert callable(getattr(importlib.import_module(module), function))


def test_solace_serve_accepts_every_entry_and_the_router() -> None:
    from solace.cli import build_parser

    parser = build_parser()
    for name in (*BY_NAME, "support"):
        assert parser.parse_args(["serve", name]).service == name
    assert set(STANDALONE) == {*BY_NAME, "support"}


def test_the_generator_is_not_forwarded_on_the_public_port() -> None:
    # It writes text for a conversation it trusts to be screened already.
    assert not BY_NAME["generator"].forwarded
    assert {s.name for s in SERVICES if s.forwarded} == {"risk", "defense", "strategy"}
