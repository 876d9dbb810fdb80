"""The RPC names on metrics and spans are the ones in protos/, every RPC has one."""

import re
from pathlib import Path

import pytest

from services.common import rpc_names
from solace.v1 import risk_pb2

PROTOS = Path(__file__).resolve().parents[3] / "protos" / "solace" / "v1"


def _declared() -> set[str]:
    """``package.Service/Method`` of every rpc declared in the .proto files."""
    names = set()
    for proto in PROTOS.glob("*.proto"):
        text = proto.read_text()
        package = re.search(r"^package\s+([\w.]+);", text, re.M).group(1)
        for service, body in re.findall(r"^service\s+(\w+)\s*\{(.*?)^\}", text, re.M | re.S):
            for method in re.findall(r"^\s*rpc\s+(\w+)\s*\(", body, re.M):
                names.add(f"{package}.{service}/{method}")
    return names


def test_every_declared_rpc_has_its_name_and_no_other_name_exists():
    named = {v for k, v in vars(rpc_names).items() if k.isupper() and not k.endswith("_SERVICE")}
    assert named == _declared()
    assert rpc_names.SCREEN == "solace.v1.RiskScreening/Screen"
    assert rpc_names.RESPOND_STREAM == "solace.v1.Support/RespondStream"


def test_a_name_the_protos_lack_fails_loudly():
    with pytest.raises(KeyError):
        rpc_names.rpc_name(risk_pb2.DESCRIPTOR, "RiskScreening", "Rescreen")
