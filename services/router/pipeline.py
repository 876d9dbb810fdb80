"""The Support pipeline as a plain async function over ``ServiceClients``: validate, screen
risk (fail closed), classify defense and predict strategy concurrently, generate under the
predicted strategy, screen the output, and report per-stage timings.

The crisis protocol follows the screen's ``decision`` (the operator's safety policy, applied
once in the risk service; ``services.safety.policy``): escalate, attach resources, and which
strategies the reply may follow. The pipeline has no risk thresholds of its own; a screen
answer without a usable decision is treated like no answer (fail closed).

No gRPC server and no Ray here: the Ray Serve ingress and the standalone router both call
``SupportPipeline``, and tests call it with in-process clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any, Protocol

from services.common import telemetry
from services.common.config import Settings
from services.common.convert import conversation_from_proto, timings
from services.common.domain import Conversation
from services.common.errors import InvalidArgument, SolaceError
from services.common.labels import RISK_LEVELS, STRATEGIES, strategy_index
from services.common.rpc_names import GENERATE, SCREEN
from services.router.clients import ServiceClients
from services.safety.policy import allowed_strategy
from solace.v1 import (
    common_pb2,
    defense_pb2,
    generation_pb2,
    risk_pb2,
    strategy_pb2,
    support_pb2,
)

# Released text lags the decoded text by this many characters, so the output screen sees a
# phrase before the seeker does (see docs/api.md, "Streaming and output screening").
STREAM_HOLDBACK_CHARS = 48


class SafetyLayer(Protocol):
    """The safety layer the pipeline applies (crisis protocol, audit, output screen)."""

    def crisis(self, locale: str) -> tuple[str, list[common_pb2.CrisisResource]]: ...

    def holding(self, locale: str) -> tuple[str, list[common_pb2.CrisisResource]]: ...

    def resources(self, locale: str) -> list[common_pb2.CrisisResource]: ...

    async def record(
        self,
        kind: str,
        request_id: str,
        conversation: Conversation,
        screen: risk_pb2.ScreenResponse | None,
        key_name: str,
    ) -> str: ...

    def screen_output(
        self, conversation: Conversation, reply: str, risk_level: str
    ) -> tuple[bool, list[str]]: ...

    def third_party_note(self, locale: str) -> str: ...

    def safe_reply(self, conversation: Conversation) -> str: ...


class _Clock:
    """Collects (stage, milliseconds) in pipeline order for the response, and reports each stage
    to telemetry (a span and a histogram observation)."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.stages: list[tuple[str, float]] = []

    @contextlib.contextmanager
    def stage(self, name: str, **options: Any) -> Iterator[telemetry.StageRecord]:
        """``options``: ``rpc`` or ``span``, as ``telemetry.stage`` takes them."""
        t0 = time.perf_counter()
        try:
            with telemetry.stage("router", name, **options) as record:
                yield record
        finally:
            self.stages.append((name, (time.perf_counter() - t0) * 1000))

    def add(self, name: str, milliseconds: float) -> None:
        """A stage timed elsewhere (inside a service)."""
        self.stages.append((name, milliseconds))
        telemetry.observe_stage("router", name, milliseconds / 1000)

    def total(self) -> list[common_pb2.StageTiming]:
        return timings([*self.stages, ("total", (time.perf_counter() - self.start) * 1000)])


def _validate_options(options: support_pb2.RespondOptions) -> None:
    if options.method not in common_pb2.GenerationMethod.values():
        raise InvalidArgument("options.method", f"unknown generation method {options.method}")
    if options.strategy not in common_pb2.Strategy.values():
        raise InvalidArgument("options.strategy", f"unknown strategy {options.strategy}")
    if options.generation.temperature < 0:
        raise InvalidArgument("options.generation.temperature", "must not be negative")
    if len(options.generation.engine) > 64:
        raise InvalidArgument("options.generation.engine", "is too long")


class SupportPipeline:
    def __init__(self, clients: ServiceClients, safety: SafetyLayer, settings: Settings) -> None:
        self._clients = clients
        self._safety = safety
        self._settings = settings

    # -- the shared front half: validation, screening, annotation -------------------------

    async def _prepare(
        self, request: support_pb2.RespondRequest, key_name: str, clock: _Clock
    ) -> tuple[support_pb2.RespondResponse, Conversation, generation_pb2.GenerateRequest | None]:
        """Everything up to generation. Returns the response so far, the conversation and the
        generation request, or ``None`` when the safety layer has already answered."""
        with clock.stage("validation"):
            conversation = conversation_from_proto(request.conversation, self._settings)
            _validate_options(request.options)
            if len(request.request_id) > 128:
                raise InvalidArgument("request_id", "must be at most 128 characters")
        response = support_pb2.RespondResponse(
            request_id=request.request_id or uuid.uuid4().hex,
            trace_id=telemetry.current_trace_id(),
        )

        # Risk first. No verdict means no generated text: fail closed with a holding reply.
        # One call is the whole stage: its client span is the stage's span.
        with clock.stage("risk", rpc=SCREEN) as record:
            try:
                screen = await self._clients.screen(
                    risk_pb2.ScreenRequest(conversation=request.conversation),
                    self._settings.risk_timeout_ms / 1000,
                )
            except InvalidArgument:
                raise
            except SolaceError as exc:
                record.code = telemetry.code_of(exc)
                screen = None
        unscreened = screen is None or screen.level == common_pb2.RISK_LEVEL_UNSPECIFIED
        if unscreened or not _usable_decision(screen):
            response.safety_hold = True
            response.reply, resources = self._safety.holding(conversation.locale)
            response.resources.extend(resources)
            kind = "screening_unavailable" if unscreened else "screening_without_decision"
            with clock.stage("audit"):
                await self._safety.record(kind, response.request_id, conversation, None, key_name)
            telemetry.record_escalation("UNSCREENED", "safety_hold")
            return response, conversation, None
        response.risk.CopyFrom(screen)
        decision = screen.decision
        if decision.escalate:
            response.escalated = True
            response.reply, resources = self._safety.crisis(conversation.locale)
            response.resources.extend(resources)
            # The escalation is durable before the seeker sees the crisis reply.
            with clock.stage("audit"):
                response.escalation_id = await self._safety.record(
                    "escalation", response.request_id, conversation, screen, key_name
                )
            telemetry.record_escalation(common_pb2.RiskLevel.Name(screen.level))
            return response, conversation, None
        if decision.attach_resources:
            response.resources.extend(self._safety.resources(conversation.locale))

        # Defense and strategy are independent: ask both at once.
        timeout = self._settings.classify_timeout_ms / 1000
        # Timed, no span of its own: the two client spans below are what a trace needs.
        with clock.stage("annotate", span=False):
            defense, strategy = await asyncio.gather(
                self._clients.classify(
                    defense_pb2.ClassifyRequest(conversation=request.conversation), timeout
                ),
                self._clients.predict(
                    strategy_pb2.PredictRequest(conversation=request.conversation), timeout
                ),
                return_exceptions=True,
            )
        for result in (defense, strategy):
            if isinstance(result, InvalidArgument):
                raise result
        if isinstance(defense, defense_pb2.ClassifyResponse):
            response.defense.CopyFrom(defense)
            clock.add("defense", _service_ms(defense.timings))
        if isinstance(strategy, strategy_pb2.PredictResponse):
            response.strategy.CopyFrom(strategy)
            clock.add("strategy", _service_ms(strategy.timings))

        chosen = request.options.strategy or (
            strategy.strategy
            if isinstance(strategy, strategy_pb2.PredictResponse)
            else common_pb2.STRATEGY_REFLECTION_OF_FEELINGS  # the predictor is down: stay gentle
        )
        if chosen not in decision.allowed_strategies:
            allowed = [STRATEGIES[value - 1] for value in decision.allowed_strategies]
            chosen = strategy_index(allowed_strategy(STRATEGIES[chosen - 1], allowed)) + 1
        generate = generation_pb2.GenerateRequest(
            conversation=request.conversation,
            method=request.options.method,
            strategy=chosen,
            defense_level=response.defense.level,
            risk_level=screen.level,
            options=request.options.generation,
            decision=decision,
        )
        if isinstance(strategy, strategy_pb2.PredictResponse) and not request.options.strategy:
            generate.strategy_probabilities.extend(strategy.probabilities)
        return response, conversation, generate

    def _finish(
        self,
        response: support_pb2.RespondResponse,
        conversation: Conversation,
        generated: generation_pb2.GenerateResponse | None,
        include_trace: bool,
        clock: _Clock,
    ) -> support_pb2.RespondResponse:
        if generated is None:
            # The generator is down: the safe reply, never an error the seeker has to read.
            response.reply = self._safety.safe_reply(conversation)
            response.generation.fell_back = True
            response.generation.fallback_reason = "generator unavailable"
            response.generation.engine = "composer"
            response.timings.extend(clock.total())
            return response
        with clock.stage("output_screening"):
            ok, reasons = self._safety.screen_output(
                conversation, generated.text, RISK_LEVELS[max(response.risk.level, 1) - 1]
            )
        response.generation.CopyFrom(generated)
        if not include_trace:
            del response.generation.trace[:]
        if ok:
            response.reply = generated.text
            if response.risk.third_party_concern:
                # Someone else may be at risk: the seeker gets what they need to help them.
                note = self._safety.third_party_note(conversation.locale)
                response.reply = f"{response.reply}\n\n{note}"
        else:
            response.reply = self._safety.safe_reply(conversation)
            response.generation.text = response.reply
            response.generation.fell_back = True
            response.generation.fallback_reason = "output screen: " + "; ".join(reasons)
            telemetry.record_escalation(common_pb2.RiskLevel.Name(response.risk.level), "fallback")
        response.timings.extend(clock.total())
        return response

    # -- public entry points ------------------------------------------------------------

    async def respond(
        self, request: support_pb2.RespondRequest, key_name: str = ""
    ) -> support_pb2.RespondResponse:
        clock = _Clock()
        response, conversation, generate = await self._prepare(request, key_name, clock)
        if generate is None:
            response.timings.extend(clock.total())
            return response
        with clock.stage("generation", rpc=GENERATE) as record:
            try:
                generated = await self._clients.generate(
                    generate, self._settings.generation_timeout_ms / 1000
                )
            except InvalidArgument:
                raise
            except SolaceError as exc:
                record.code = telemetry.code_of(exc)
                generated = None
            _label(record, generated)
        return self._finish(response, conversation, generated, request.options.include_trace, clock)

    async def respond_stream(
        self, request: support_pb2.RespondRequest, key_name: str = ""
    ) -> AsyncIterator[support_pb2.RespondChunk]:
        """Streams the reply with a hold-back window: text is released only once the output
        screen has passed it; if the screen fails at the end, the final message withdraws the
        streamed text and carries the safe reply (clients show ``final.reply``)."""
        clock = _Clock()
        response, conversation, generate = await self._prepare(request, key_name, clock)
        if generate is None:
            yield support_pb2.RespondChunk(text_delta=response.reply)
            response.timings.extend(clock.total())
            yield support_pb2.RespondChunk(final=response)
            return
        t0 = time.perf_counter()
        risk_name = RISK_LEVELS[max(response.risk.level, 1) - 1]
        decoded, released = "", 0
        generated: generation_pb2.GenerateResponse | None = None
        withheld = False
        try:
            async for chunk in self._clients.generate_stream(
                generate, self._settings.generation_timeout_ms / 1000
            ):
                if chunk.HasField("final"):
                    generated = chunk.final
                    break
                decoded += chunk.text_delta
                safe_upto = len(decoded) - STREAM_HOLDBACK_CHARS
                if withheld or safe_upto <= released:
                    continue
                ok, _ = self._safety.screen_output(conversation, decoded, risk_name)
                if not ok:
                    withheld = True  # stop releasing; the final message carries the safe reply
                    continue
                yield support_pb2.RespondChunk(text_delta=decoded[released:safe_upto])
                released = safe_upto
        except InvalidArgument:
            raise
        except SolaceError:
            generated = None
        # Timed, not wrapped in a span: a span must not stay open across this generator's yields.
        clock.add("generation", (time.perf_counter() - t0) * 1000)
        final = self._finish(
            response, conversation, generated, request.options.include_trace, clock
        )
        # The deltas add up to final.reply whenever the released prefix still stands; if a
        # late screen failure replaced the reply, the final message withdraws what was shown.
        if final.reply.startswith(decoded[:released]):
            rest = final.reply[released:]
            if rest:
                yield support_pb2.RespondChunk(text_delta=rest)
        yield support_pb2.RespondChunk(final=final)


def _usable_decision(screen: risk_pb2.ScreenResponse) -> bool:
    """Whether the screen's answer carries a decision the pipeline can obey: one that escalates,
    or one that names the strategies a reply may follow (all of them known)."""
    if not screen.HasField("decision"):
        return False
    decision = screen.decision
    if decision.escalate:
        return True
    known = common_pb2.Strategy.values()
    return bool(decision.allowed_strategies) and all(
        value != common_pb2.STRATEGY_UNSPECIFIED and value in known
        for value in decision.allowed_strategies
    )


def _label(
    record: telemetry.StageRecord, generated: generation_pb2.GenerateResponse | None
) -> None:
    if generated is not None:
        record.engine = generated.engine
        record.method = common_pb2.GenerationMethod.Name(generated.method)


def _service_ms(stage_timings) -> float:
    return sum(t.milliseconds for t in stage_timings)
