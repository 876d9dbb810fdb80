"""The names of the gRPC services Solace serves ("package.Service": its own and gRPC health) and
of its methods ("package.Service/Method"), as metrics, spans, health checks and reflection
carry them.

Read once from the generated stubs' descriptors, so they are the names in ``protos/`` and a
renamed service or method fails at import instead of labelling metrics with a name no server
answers to. Servicers, clients, deployments, the router and the benchmarks all take them from
here.
"""

from __future__ import annotations

from typing import Any

from grpc_health.v1 import health_pb2

from solace.v1 import defense_pb2, generation_pb2, risk_pb2, strategy_pb2, support_pb2


def service_name(file_descriptor: Any, service: str) -> str:
    """``package.Service`` of ``service`` in a generated ``*_pb2`` file."""
    return file_descriptor.services_by_name[service].full_name


def rpc_name(file_descriptor: Any, service: str, method: str) -> str:
    """``package.Service/Method`` of ``method`` on ``service`` in a generated ``*_pb2`` file."""
    found = file_descriptor.services_by_name[service]
    return f"{found.full_name}/{found.methods_by_name[method].name}"


RISK_SERVICE = service_name(risk_pb2.DESCRIPTOR, "RiskScreening")
DEFENSE_SERVICE = service_name(defense_pb2.DESCRIPTOR, "DefenseClassifier")
STRATEGY_SERVICE = service_name(strategy_pb2.DESCRIPTOR, "StrategyPredictor")
GENERATOR_SERVICE = service_name(generation_pb2.DESCRIPTOR, "Generator")
SUPPORT_SERVICE = service_name(support_pb2.DESCRIPTOR, "Support")
HEALTH_SERVICE = service_name(health_pb2.DESCRIPTOR, "Health")

# One per ``rpc`` in protos/.

SCREEN = rpc_name(risk_pb2.DESCRIPTOR, "RiskScreening", "Screen")
CLASSIFY = rpc_name(defense_pb2.DESCRIPTOR, "DefenseClassifier", "Classify")
PREDICT = rpc_name(strategy_pb2.DESCRIPTOR, "StrategyPredictor", "Predict")
GENERATE = rpc_name(generation_pb2.DESCRIPTOR, "Generator", "Generate")
GENERATE_STREAM = rpc_name(generation_pb2.DESCRIPTOR, "Generator", "GenerateStream")
RESPOND = rpc_name(support_pb2.DESCRIPTOR, "Support", "Respond")
RESPOND_STREAM = rpc_name(support_pb2.DESCRIPTOR, "Support", "RespondStream")
