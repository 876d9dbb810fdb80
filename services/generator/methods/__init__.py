"""Generation methods: small programs of steps over an ``Engine`` (see ``base.Method``).

``build_methods`` gives the registry the core selects from, keyed by ``labels.METHODS`` name;
``policy`` holds the AUTO choice and the risk constraint on strategies.
"""

from __future__ import annotations

from services.generator.knowledge import KnowledgeRetriever
from services.generator.methods.base import Method
from services.generator.methods.direct import DirectMethod
from services.generator.methods.empathy_r1 import EmpathyR1Method
from services.generator.methods.kemi import KemiMethod
from services.generator.methods.madp import MadpMethod
from services.generator.methods.value_reinforcement import ValueReinforcementMethod


def build_methods(retriever: KnowledgeRetriever | None = None) -> dict[str, Method]:
    """Every concrete method (all of ``labels.METHODS`` but AUTO), by name."""
    methods: list[Method] = [
        DirectMethod(),
        MadpMethod(),
        EmpathyR1Method(),
        KemiMethod(retriever),
        ValueReinforcementMethod(),
    ]
    return {m.name: m for m in methods}
