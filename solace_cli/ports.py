"""Free ports for a platform that tests and benchmarks start on this machine.

Asking the kernel for port 0 returns an ephemeral port, and the platform binds it seconds later,
after Ray has started: in between, Ray's own processes open dozens of connections and servers
on ephemeral ports and can take it ("Failed to bind to address"). So ``free_port`` picks from
below the kernel's ephemeral range (``ip_local_port_range``) and above Ray's worker ports
(10002–19999 by default), where nothing is handed out automatically, and checks that the port
can be bound on every interface now.
"""

from __future__ import annotations

import random
import socket
import subprocess
from pathlib import Path

_RAY_WORKER_PORTS_END = 20000
_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def _ephemeral_start() -> int:
    try:
        return int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default; other systems start higher still


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("0.0.0.0", port))
        except OSError:
            return False
        return True


def free_port() -> int:
    """A port that is free now and that no process gets from the kernel by asking for any."""
    low, high = _RAY_WORKER_PORTS_END, _ephemeral_start()
    if high - low >= 100:
        for _ in range(200):
            port = random.randrange(low, high)
            if _bindable(port):
                return port
    with socket.socket() as s:  # no room below the ephemeral range: the kernel's choice
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listeners(*ports: int) -> str:
    """Who listens on ``ports`` now (``ss -ltnp``), for the message of a failed platform start
    ("Failed to bind to address"): the platform tests went red twice with a port taken between
    choosing it and binding it, and what held it was never seen."""
    try:
        out = subprocess.run(
            ["ss", "-Hltnp"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return f"(ss unavailable: {exc})"
    lines = []
    for line in out.splitlines():
        fields = line.split()  # State Recv-Q Send-Q Local:Port Peer:Port Process
        if len(fields) > 3 and any(fields[3].endswith(f":{port}") for port in ports):
            lines.append(line)
    return "\n".join(lines) or f"(nothing listens on {', '.join(map(str, ports))} now)"
