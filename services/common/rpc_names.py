"""The gRPC method names ("package.Service/Method") that metrics, spans and stage records carry.

Read once from the generated stubs' descriptors, so they are the names in ``protos/`` and a
renamed service or method fails at import instead of labelling metrics with a name no server
answers to. Clients, deployments, the router and the benchmarks all take them from here.
"""

from __future__ import annotations

from typing import Any

from solace.v1 import defense_pb2, generation_pb2, risk_pb2, strategy_pb2, support_pb2


def rpc_name(file_descriptor: Any, service: str, method: str) -> str:
    """``package.Service/Method`` of ``method`` on ``service`` in a generated ``*_pb2`` file."""
    found = file_descriptor.services_by_name[service]
    return f"{found.full_name}/{found.methods_by_name[method].name}"


SCREEN = rpc_name(risk_pb2.DESCRIPTOR, "RiskScreening", "Screen")
CLASSIFY = rpc_name(defense_pb2.DESCRIPTOR, "DefenseClassifier", "Classify")
PREDICT = rpc_name(strategy_pb2.DESCRIPTOR, "StrategyPredictor", "Predict")
GENERATE = rpc_name(generation_pb2.DESCRIPTOR, "Generator", "Generate")
GENERATE_STREAM = rpc_name(generation_pb2.DESCRIPTOR, "Generator", "GenerateStream")
RESPOND = rpc_name(support_pb2.DESCRIPTOR, "Support", "Respond")
RESPOND_STREAM = rpc_name(support_pb2.DESCRIPTOR, "Support", "RespondStream")
