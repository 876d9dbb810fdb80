"""A real Node.js gRPC client (@grpc/grpc-js), knowing only the .proto files, calls Support."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from services.common.server import start_server
from solace_cli.standalone import service_specs

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = ROOT / ".cache" / "node-client"


@pytest.fixture(scope="module")
def node_modules() -> Path:
    if not (shutil.which("node") and shutil.which("npm")):
        pytest.skip("Node.js and npm are not installed on this machine")
    NODE_DIR.mkdir(parents=True, exist_ok=True)
    if not (NODE_DIR / "node_modules" / "@grpc" / "grpc-js").exists():
        subprocess.run(
            [
                "npm",
                "install",
                "--silent",
                "--no-audit",
                "--no-fund",
                "--prefix",
                str(NODE_DIR),
                "@grpc/grpc-js@1",
                "@grpc/proto-loader@0.7",
            ],
            check=True,
            timeout=300,
        )
    return NODE_DIR / "node_modules"


async def _call(node_modules: Path, port: int, text: str) -> dict:
    process = await asyncio.create_subprocess_exec(
        "node",
        str(Path(__file__).with_name("node_client.js")),
        str(ROOT / "protos"),
        f"127.0.0.1:{port}",
        text,
        stdout=asyncio.subprocess.PIPE,
        env={"NODE_PATH": str(node_modules), "PATH": "/usr/bin:/bin:/usr/local/bin"},
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    return json.loads(out.decode().strip().splitlines()[-1])


async def test_node_client_gets_a_reply_and_field_errors(settings, node_modules):
    servers = {
        n: await start_server(service_specs(n, settings), 0, host="127.0.0.1")
        for n in ("risk", "defense", "strategy", "generator")
    }
    routed = settings.with_overrides(
        **{f"{n}_target": f"127.0.0.1:{s.port}" for n, s in servers.items()}
    )
    support = await start_server(service_specs("support", routed), 0, host="127.0.0.1")
    try:
        answer = await _call(node_modules, support.port, "I lost my job and I can't sleep")
        assert answer["reply"]
        assert answer["risk"].startswith("RISK_LEVEL_")
        assert answer["strategy"].startswith("STRATEGY_")
        error = await _call(node_modules, support.port, "   ")
        assert error["code"] == "INVALID_ARGUMENT"
        assert error["details"].startswith("conversation.turns[0].text")
    finally:
        await support.stop(0)
        for server in servers.values():
            await server.stop(0)
