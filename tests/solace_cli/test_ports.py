"""Ports for platforms started by tests and benchmarks come from outside the kernel's ephemeral
range, where Ray's own processes cannot be handed them while the platform starts; a platform
that fails to start all the same is stopped and started again on other ports."""

from __future__ import annotations

import socket

import pytest

from solace_cli import ports


def test_free_port_is_below_the_ephemeral_range_and_bindable_on_every_interface() -> None:
    start = ports._ephemeral_start()
    for _ in range(20):
        port = ports.free_port()
        assert 20000 <= port < start
        with socket.socket() as s:
            s.bind(("0.0.0.0", port))


def test_a_taken_port_is_not_offered(monkeypatch) -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        busy = taken.getsockname()[1]
        offers = iter([busy, busy, 25001])
        monkeypatch.setattr(ports.random, "randrange", lambda low, high: next(offers))
        monkeypatch.setattr(ports, "_ephemeral_start", lambda: busy + 1000)
        assert ports.free_port() == 25001


def test_listeners_names_the_process_that_holds_a_port() -> None:
    with socket.socket() as held:
        held.bind(("0.0.0.0", ports.free_port()))
        held.listen()
        port = held.getsockname()[1]
        assert "python" in ports.listeners(port)
    assert ports.listeners(port) == f"(nothing listens on {port} now)"


def test_a_platform_that_fails_to_start_is_stopped_and_started_on_other_ports(monkeypatch):
    from services.common.config import Settings
    from solace_cli import platform

    tried: list[tuple[int, int]] = []
    stops: list[int] = []

    def start(settings: Settings) -> None:
        tried.append((settings.grpc_port, settings.serve.http_port))
        if len(tried) == 1:
            raise RuntimeError("Failed to bind to address")

    monkeypatch.setattr(platform, "start_platform", start)
    monkeypatch.setattr(platform, "stop_platform", lambda: stops.append(1))
    monkeypatch.setattr(platform.time, "sleep", lambda s: None)
    served = platform.start_on_free_ports(Settings().with_overrides(serve_topology="services"))
    assert len(tried) == 2 and stops == [1], "the failed start was stopped, then tried again"
    assert tried[0] != tried[1] and (served.grpc_port, served.serve.http_port) == tried[1]
    assert served.serve.serve_topology == "services"


def test_a_platform_that_never_starts_says_who_holds_its_ports(monkeypatch):
    from services.common.config import Settings
    from solace_cli import platform

    def start(settings: Settings) -> None:
        raise RuntimeError("Failed to bind to address")

    monkeypatch.setattr(platform, "start_platform", start)
    monkeypatch.setattr(platform, "stop_platform", lambda: None)
    monkeypatch.setattr(platform.time, "sleep", lambda s: None)
    monkeypatch.setattr(ports, "listeners", lambda *p: f"LISTEN {p[0]} python")
    with pytest.raises(RuntimeError, match="did not start in 2 attempts") as err:
        platform.start_on_free_ports(Settings(), attempts=2)
    assert "Failed to bind to address" in str(err.value) and "LISTEN" in str(err.value)
