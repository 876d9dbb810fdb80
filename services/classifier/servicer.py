"""The one servicer of Solace's conversation classifiers (``DefenseClassifier``,
``StrategyPredictor``): proto ⇄ domain around a model's single and batch calls; no logic.

A classifier service differs from another only in its model and how a scored conversation
becomes its response, so each room (``services/defense``, ``services/strategy``) gives those
two and its registry entry (``services.registry``) names the rest.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

from services.common.config import Settings
from services.common.convert import answer_batch, conversation_from_proto
from services.common.domain import Conversation, Scored
from services.common.errors import SolaceError

Respond = Callable[[Scored, float], Any]


class ClassifierServicer:
    """``infer(request)`` and ``infer_batch(requests)`` for the router's transports; the gRPC
    method (``grpc_method``: "Classify", "Predict") for a standalone server's registration."""

    def __init__(
        self,
        grpc_method: str,
        one: Callable[[Conversation], Scored],
        batch: Callable[[list[Conversation]], Sequence[Scored]],
        respond: Respond,
        settings: Settings,
    ) -> None:
        self._one, self._batch, self._respond, self._settings = one, batch, respond, settings

        async def answer(request: Any, context: Any) -> Any:
            return await self.infer(request)

        # The generated ``add_*Servicer_to_server`` looks the method up by its proto name.
        setattr(self, grpc_method, answer)

    async def infer(self, request: Any) -> Any:
        conversation = conversation_from_proto(request.conversation, self._settings)
        start = time.perf_counter()
        scored = await asyncio.to_thread(self._one, conversation)
        return self._respond(scored, (time.perf_counter() - start) * 1000)

    async def infer_batch(self, requests: Sequence[Any]) -> list[Any | SolaceError]:
        """One model call for many requests; see ``convert.answer_batch``."""
        return await answer_batch(requests, self._settings, self._batch, self._respond)
