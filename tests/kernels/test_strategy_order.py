"""kernels/ keeps its own copy of the strategy order (it may not import services/); the two
copies must never drift, or a bias-table row would condition on the wrong strategy."""

from __future__ import annotations

from kernels.strategies import STRATEGIES as KERNEL_ORDER
from services.common.labels import STRATEGIES as SERVICE_ORDER
from solace.v1 import common_pb2


def test_kernel_and_service_strategy_orders_are_the_same():
    assert KERNEL_ORDER == SERVICE_ORDER


def test_proto_enum_follows_the_same_order():
    names = [common_pb2.Strategy.Name(i + 1) for i in range(len(SERVICE_ORDER))]
    expected = [
        "STRATEGY_" + s.upper().replace(" OR ", "_OR_").replace(" ", "_").replace("-", "_")
        for s in SERVICE_ORDER
    ]
    assert names == expected
