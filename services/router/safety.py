"""The router's safety layer: the crisis protocol and holding reply (``services.safety``), the
durable escalation record and its outbox (``services.escalation``), output screening, and the
composer's safe reply — assembled once per router process from ``Settings``."""

from __future__ import annotations

import asyncio
import logging
import uuid

from services.common.config import Settings
from services.common.domain import Conversation
from services.common.errors import SolaceError
from services.common.labels import RISK_LEVELS
from services.escalation.outbox import OutboxDeliverer
from services.escalation.store import Escalation, EscalationStore, Reason, open_store
from services.generator.engines.composer import safe_reply
from services.safety.crisis import (
    CrisisResource,
    crisis_reply,
    holding_reply,
    resources_for,
    third_party_note,
)
from services.safety.output_screen import screen_output
from services.safety.policy import load_policy
from solace.v1 import common_pb2, risk_pb2

log = logging.getLogger("solace.safety")

# Recorded as the risk level when no screen answered (the fail-closed holding reply).
UNSCREENED = "UNSCREENED"
# Escalation ids derive from (API key, request id): a partner retrying a request after a crash
# between the audit write and the reply gets the same id, and the store ignores the duplicate.
_ESCALATION_NAMESPACE = uuid.UUID("6f1b7a52-9d0e-4c55-8a43-2f6a5c1e9b10")


def escalation_id_for(key_name: str, request_id: str, kind: str) -> str:
    return str(uuid.uuid5(_ESCALATION_NAMESPACE, f"{key_name}\x1f{request_id}\x1f{kind}"))


def _resources(items: list[CrisisResource]) -> list[common_pb2.CrisisResource]:
    return [
        common_pb2.CrisisResource(
            name=r.name, contact=r.contact, url=r.url, description=r.description
        )
        for r in items
    ]


class RouterSafety:
    """Implements ``services.router.pipeline.SafetyLayer``."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._policy = load_policy(settings.safety_config or None)
        self._resources_file = settings.crisis_resources_file or None
        self._store: EscalationStore | None = None
        self._outbox: OutboxDeliverer | None = None
        self._opening = asyncio.Lock()

    # -- replies ---------------------------------------------------------------------------

    def crisis(self, locale: str) -> tuple[str, list[common_pb2.CrisisResource]]:
        text, items = crisis_reply(locale, self._resources_file)
        return text, _resources(items)

    def holding(self, locale: str) -> tuple[str, list[common_pb2.CrisisResource]]:
        text, items = holding_reply(locale, self._resources_file)
        return text, _resources(items)

    def resources(self, locale: str) -> list[common_pb2.CrisisResource]:
        return _resources(resources_for(locale, self._resources_file))

    def third_party_note(self, locale: str) -> str:
        return third_party_note(locale, self._resources_file)

    def safe_reply(self, conversation: Conversation) -> str:
        return safe_reply(conversation, conversation.locale)

    def screen_output(
        self, conversation: Conversation, reply: str, risk_level: str
    ) -> tuple[bool, list[str]]:
        verdict = screen_output(conversation, reply, risk_level, self._policy)
        return verdict.ok, verdict.reasons

    # -- durable records -----------------------------------------------------------------

    async def _ensure_store(self) -> EscalationStore:
        async with self._opening:
            if self._store is None:
                s = self._settings
                self._store = await open_store(
                    s.escalation.store_url,
                    models_dir=s.models_dir,
                    include_text=s.escalation.include_text,
                )
                if s.escalation.webhook_url:
                    self._outbox = OutboxDeliverer.from_settings(self._store, s.escalation)
                    self._outbox.start()
        return self._store

    async def record(
        self,
        kind: str,
        request_id: str,
        conversation: Conversation,
        screen: risk_pb2.ScreenResponse | None,
        key_name: str,
    ) -> str:
        """Write the escalation durably and return its id. If the store stays down past its
        own retries, the seeker still gets the crisis reply (withholding help is worse); the
        failure is logged loudly and the id is empty."""
        if screen is None:
            level = UNSCREENED
            reasons = [Reason(line="", source=f"fail_closed:{kind}", level=UNSCREENED)]
            versions: dict[str, str] = {}
        else:
            level = RISK_LEVELS[screen.level - 1]
            reasons = [
                Reason(
                    line=risk_pb2.CssrsLine.Name(r.line).removeprefix("CSSRS_LINE_"),
                    source=r.source,
                    level=RISK_LEVELS[max(r.level, 1) - 1],
                )
                for r in screen.reasons
            ]
            if screen.decision.escalate_at:
                # The threshold it was judged against, so an audit can tell a HIGH escalated
                # under escalate_at HIGH from one under an operator's MODERATE.
                reasons.append(
                    Reason(
                        line="escalate_at",
                        source="safety_policy",
                        level=RISK_LEVELS[screen.decision.escalate_at - 1],
                    )
                )
            versions = {screen.model.name: screen.model.version} if screen.model.name else {}
        escalation = Escalation(
            request_id=request_id,
            risk_level=level,
            reasons=reasons,
            model_versions=versions,
            locale=conversation.locale,
            api_key_name=key_name,
            text=conversation.last_seeker_text,
            escalation_id=escalation_id_for(key_name, request_id, kind),
        )
        try:
            store = await self._ensure_store()
            escalation_id = await store.record(escalation)
        except SolaceError:
            log.error("ESCALATION NOT RECORDED: audit store unavailable (request %s)", request_id)
            return ""
        if self._outbox is not None:
            self._outbox.wake()
        return escalation_id

    async def close(self) -> None:
        if self._outbox is not None:
            await self._outbox.stop()
        if self._store is not None:
            await self._store.close()


def build_safety_layer(settings: Settings) -> RouterSafety:
    return RouterSafety(settings)
