"""Ports for platforms started by tests and benchmarks come from outside the kernel's ephemeral
range, where Ray's own processes cannot be handed them while the platform starts."""

from __future__ import annotations

import socket

from solace import ports


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
