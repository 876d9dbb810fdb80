"""The Generator's core: validate a request, apply the risk policy, pick a method and an engine,
run the method, and fall back to the composer when the engine fails. No gRPC here; the servicer
translates proto ⇄ these types and calls ``GeneratorCore``.

Policies, in the order they apply:

- the safety decision: the request's (``GenerateRequest.decision``, the risk screen's), or, when
  a caller sends none, the one the safety policy from the settings makes for ``risk_level``
  (``services.safety.policy.RiskPolicy.decide``; no thresholds of the generator's own):
  - escalate: no generated text at all; the composer's ``safe_reply`` comes back with
    ``fell_back=True`` (the router sends such requests to the crisis protocol and should never
    get here; a partner calling the Generator directly gets a safe answer, not model text);
  - constrained: the strategy and mixture are limited to the decision's allowed strategies
    (``methods.policy.constrain_to_decision``);
- method AUTO (or empty): ``methods.policy.choose_method``;
- engine: ``options.engine`` or ``Settings.default_engine``. A known engine that this server
  does not run ("vllm" without vLLM installed, "llamacpp" without its model file) is answered
  by the composer with ``fell_back``; an unknown name is ``InvalidArgument("options.engine")``;
- an engine that raises, times out or answers unusably: the whole method runs again on the
  composer, ``fell_back=True`` with the reason (an exception type, never message text).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

from services.common.config import Settings
from services.common.domain import SEEKER, Conversation
from services.common.errors import InvalidArgument
from services.common.labels import (
    DEFENSE_LEVELS,
    METHODS,
    RISK_LEVELS,
    STRATEGIES,
    strategy_index,
)
from services.generator.engines import configured_engines
from services.generator.engines.base import DecodingOptions, Engine
from services.generator.engines.composer import ComposerEngine, safe_reply
from services.generator.knowledge import KnowledgeRetriever
from services.generator.methods import build_methods
from services.generator.methods.base import (
    Generation,
    Method,
    StepRunner,
    StepTiming,
    Task,
    TraceStep,
    UnusableOutput,
    WhitespaceJoiner,
    clean_reply,
)
from services.generator.methods.policy import choose_method, constrain_to_decision
from services.generator.methods.value_reinforcement import ValueReinforcementMethod
from services.generator.retrieval import make_retriever
from services.generator.values import ValueDetector
from services.safety.policy import RiskPolicy, SafetyDecision, load_policy

__all__ = [
    "Generation",
    "GenerationOptions",
    "GenerationRequest",
    "GeneratorCore",
    "StepTiming",
    "TraceStep",
]

log = logging.getLogger("solace.generator")

# Engines the API knows by name; only some run on a given server.
KNOWN_ENGINES: tuple[str, ...] = ("composer", "llamacpp", "vllm", "openai")
DEFAULT_MAX_TOKENS = 160
# The engine gets this share of the generation timeout, so a composer fallback still answers
# before the router's own generation deadline.
ENGINE_BUDGET_SHARE = 0.8
_OTHERS = strategy_index("Others")


@dataclass(frozen=True, slots=True)
class GenerationOptions:
    """Decoding options of a request; zero values mean the defaults (``temperature`` 0 is
    greedy). ``engine`` empty means ``Settings.default_engine``."""

    engine: str = ""
    max_tokens: int = 0
    temperature: float = 0.0
    strategy_strength: float = 0.0
    seed: int = 0


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    """One request to write a reply.

    ``strategy`` is an index into ``labels.STRATEGIES`` (required). ``method`` is a
    ``labels.METHODS`` name ("" or "AUTO" lets the policy choose). ``strategy_probabilities``
    is the StrategyPredictor's 8-way mixture, ``defense`` a PsyDefConv label index and
    ``risk_level`` a ``labels.RISK_LEVELS`` name; each may be None when unknown. ``decision`` is
    the risk screen's safety decision; None: the generator's policy decides from ``risk_level``
    (an unknown level counts as NONE).
    """

    conversation: Conversation
    strategy: int | None
    method: str = "AUTO"
    strategy_probabilities: tuple[float, ...] | None = None
    defense: int | None = None
    risk_level: str | None = None
    options: GenerationOptions = field(default_factory=GenerationOptions)
    decision: SafetyDecision | None = None


@dataclass(frozen=True, slots=True)
class _Plan:
    """A validated request with every policy applied: what will run, and on which engine."""

    task: Task
    method: Method
    engine: Engine
    notes: tuple[TraceStep, ...]
    # Set when the requested engine is known but not running here; the composer answers.
    unavailable: str = ""
    # Set when the safety decision escalates: no generated text.
    withheld: str = ""


class GeneratorCore:
    """Writes replies: ``generate`` for one answer, ``generate_stream`` for text deltas.

    ``engines`` maps names to engines; the composer is always present (it is the fallback) and
    is created when not given. ``retriever`` is KEMI's knowledge retrieval; by default the
    encoder retriever over ``<models_dir>/knowledge`` when ``solace knowledge build`` made that
    index, else keyword matching over the built-in knowledge (``retrieval.make_retriever``).
    """

    def __init__(
        self,
        settings: Settings,
        engines: Mapping[str, Engine] | None = None,
        *,
        retriever: KnowledgeRetriever | None = None,
    ) -> None:
        self.settings = settings
        # The operator's safety policy, for requests that come without the screen's decision.
        self.policy: RiskPolicy = load_policy(settings.safety_config or None)
        # No engines given: those the settings configure (engines.configured_engines).
        given = dict(configured_engines(settings) if engines is None else engines)
        composer = given.get("composer")
        self.composer: Engine = composer if composer is not None else ComposerEngine()
        self.engines: dict[str, Engine] = {**given, "composer": self.composer}
        self.methods: dict[str, Method] = build_methods(retriever or make_retriever(settings))
        # The value head loads lazily and falls back to the lexicon when it cannot.
        self.methods["VALUE_REINFORCEMENT"] = ValueReinforcementMethod(ValueDetector(settings))
        self._engine_budget_s = settings.generation_timeout_ms / 1000.0 * ENGINE_BUDGET_SHARE

    def safe_reply(self, conversation: Conversation | None = None, locale: str = "") -> str:
        """The screened-output fallback (see ``composer.safe_reply``)."""
        return safe_reply(conversation, locale or self.settings.default_locale)

    async def close(self) -> None:
        for engine in self.engines.values():
            await engine.close()

    # --- one answer -------------------------------------------------------------------------

    async def generate(self, request: GenerationRequest) -> Generation:
        """The reply to a request. Raises ``InvalidArgument`` naming the field for bad input."""
        plan = self._plan(request)
        if plan.withheld:
            return self._withheld(plan)
        if plan.engine is self.composer:
            result = await self._run(plan, self.composer)
            if plan.unavailable:
                result = dataclasses.replace(
                    result, fell_back=True, fallback_reason=plan.unavailable
                )
            return result
        try:
            async with asyncio.timeout(self._engine_budget_s):
                return await self._run(plan, plan.engine)
        except Exception as exc:  # any engine failure: the composer answers instead
            reason = self._failure(plan.engine, exc)
        result = await self._run(plan, self.composer)
        return dataclasses.replace(result, fell_back=True, fallback_reason=reason)

    async def _run(self, plan: _Plan, engine: Engine) -> Generation:
        run = self._runner(plan, engine)
        prompt = await plan.method.prepare(run)
        (raw,) = await run.complete([prompt])
        return self._result(plan, engine, run, clean_reply(raw))

    # --- streamed ---------------------------------------------------------------------------

    async def generate_stream(self, request: GenerationRequest) -> AsyncIterator[str | Generation]:
        """Text deltas of the reply, then the final ``Generation`` (always last).

        The final ``text`` is authoritative: it is the joined deltas with any echoed reasoning
        removed, and when the engine fails after deltas went out, the composer's whole reply
        (``fell_back=True``) follows without further deltas, so clients show ``final.text``.
        """
        plan = self._plan(request)
        if plan.withheld:
            result = self._withheld(plan)
            yield result.text
            yield result
            return
        emitted = False
        try:
            async for item in self._stream_run(plan, plan.engine):
                emitted = emitted or isinstance(item, str)
                if isinstance(item, Generation) and plan.unavailable:
                    item = dataclasses.replace(
                        item, fell_back=True, fallback_reason=plan.unavailable
                    )
                yield item
            return
        except Exception as exc:
            if plan.engine is self.composer:
                raise
            reason = self._failure(plan.engine, exc)
        if emitted:
            result = await self._run(plan, self.composer)
            yield dataclasses.replace(result, fell_back=True, fallback_reason=reason)
            return
        async for item in self._stream_run(plan, self.composer):
            if isinstance(item, Generation):
                item = dataclasses.replace(item, fell_back=True, fallback_reason=reason)
            yield item

    async def _stream_run(self, plan: _Plan, engine: Engine) -> AsyncIterator[str | Generation]:
        run = self._runner(plan, engine)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._engine_budget_s
        # The composer gets no deadline: it is the answer of last resort and takes microseconds.
        bounded = engine is not self.composer
        async with asyncio.timeout_at(deadline if bounded else None):
            prompt = await plan.method.prepare(run)
        started = time.perf_counter()
        parts: list[str] = []
        tidy = WhitespaceJoiner()
        # Not ``async with timeout`` around the loop: a timeout armed across a ``yield`` would
        # cancel the consumer's task instead of this stream. Each delta gets the time left.
        async with contextlib.aclosing(engine.stream(prompt)) as deltas:
            while True:
                left = max(0.0, deadline - loop.time()) if bounded else None
                try:
                    delta = await asyncio.wait_for(anext(deltas), timeout=left)
                except StopAsyncIteration:
                    break
                if delta:
                    parts.append(delta)
                    if shown := tidy.feed(delta):
                        yield shown
        run.time(prompt.step, started)
        if not "".join(parts).strip():
            raise UnusableOutput(f"step {prompt.step} streamed no text")
        yield self._result(plan, engine, run, clean_reply("".join(parts)))

    # --- policy and validation --------------------------------------------------------------

    def _plan(self, request: GenerationRequest) -> _Plan:
        conversation = self._check_conversation(request.conversation)
        strategy = _check_strategy(request.strategy)
        method_name = _check_method(request.method)
        probabilities = _check_probabilities(request.strategy_probabilities)
        defense = _check_defense(request.defense)
        risk = _check_risk(request.risk_level)
        engine, unavailable = self._check_engine(request.options.engine)
        decoding = _check_decoding(request.options)

        notes: list[TraceStep] = []
        withheld = ""
        decision = request.decision
        if decision is None:
            decision = self.policy.decide(risk or "NONE")
        elif risk and not decision.escalate and self.policy.decide(risk).escalate:
            # The request's decision lets model text through at a level this generator's own
            # policy escalates: the two disagree (another config, or a caller's bug), and the
            # safety layer fails closed, so the stricter one answers.
            notes.append(
                TraceStep(
                    "policy.risk",
                    f"the request's decision does not escalate risk {risk}; this generator's "
                    f"policy does (escalate_at {self.policy.escalate_at})",
                )
            )
            decision = self.policy.decide(risk)
        if decision.escalate:
            at = f", escalate_at {decision.escalate_at}" if decision.escalate_at else ""
            withheld = (
                f"risk {risk or 'unknown'}: the safety decision escalates{at}; "
                "no generated text; the safe reply was returned"
            )
        strategy, probabilities, constrained = constrain_to_decision(
            strategy, probabilities, decision, risk or ""
        )
        if constrained:
            notes.append(TraceStep("policy.risk", constrained))
        if method_name == "AUTO":
            method_name, why = choose_method(conversation, strategy)
            notes.append(TraceStep("policy.method", f"AUTO chose {method_name}: {why}"))
        task = Task(
            conversation=conversation,
            strategy=strategy,
            strategy_probabilities=probabilities,
            defense=defense,
            risk=risk,
            options=decoding,
        )
        return _Plan(
            task=task,
            method=self.methods[method_name],
            engine=engine,
            notes=tuple(notes),
            unavailable=unavailable,
            withheld=withheld,
        )

    def _check_conversation(self, conversation: Conversation) -> Conversation:
        if not isinstance(conversation, Conversation) or not conversation.turns:
            raise InvalidArgument("conversation.turns", "at least one turn is required")
        limits = self.settings
        if len(conversation.turns) > limits.max_turns:
            raise InvalidArgument(
                "conversation.turns",
                f"{len(conversation.turns)} turns is over the limit of {limits.max_turns}",
            )
        for i, turn in enumerate(conversation.turns):
            if not turn.text.strip():
                raise InvalidArgument(f"conversation.turns[{i}].text", "must not be blank")
            if len(turn.text) > limits.max_text_chars:
                raise InvalidArgument(
                    f"conversation.turns[{i}].text",
                    f"over the limit of {limits.max_text_chars} characters",
                )
        last = len(conversation.turns) - 1
        if conversation.turns[last].role != SEEKER:
            raise InvalidArgument(
                f"conversation.turns[{last}].role", "the last turn must be the seeker's"
            )
        if len(conversation.situation) > limits.max_situation_chars:
            raise InvalidArgument(
                "conversation.situation",
                f"over the limit of {limits.max_situation_chars} characters",
            )
        return conversation

    def _check_engine(self, name: str) -> tuple[Engine, str]:
        key = (name or self.settings.default_engine).strip().lower()
        if key in self.engines:
            return self.engines[key], ""
        if key in KNOWN_ENGINES:
            return self.composer, f"engine {key!r} is not configured on this server"
        names = sorted(set(KNOWN_ENGINES) | set(self.engines))
        raise InvalidArgument("options.engine", f"unknown engine {name!r}; expected one of {names}")

    # --- results ----------------------------------------------------------------------------

    def _runner(self, plan: _Plan, engine: Engine) -> StepRunner:
        run = StepRunner(engine, plan.task)
        run.trace.extend(plan.notes)
        return run

    def _result(self, plan: _Plan, engine: Engine, run: StepRunner, text: str) -> Generation:
        return Generation(
            text=text,
            method=plan.method.name,
            engine=engine.name,
            engine_version=engine.version,
            strategy=plan.task.strategy,
            trace=tuple(run.trace),
            timings=tuple(run.timings),
        )

    def _withheld(self, plan: _Plan) -> Generation:
        conversation = plan.task.conversation
        return Generation(
            text=self.safe_reply(conversation, conversation.locale),
            method="DIRECT",
            engine=self.composer.name,
            engine_version=self.composer.version,
            strategy=_OTHERS,
            trace=(TraceStep("policy.risk", plan.withheld),),
            fell_back=True,
            fallback_reason=plan.withheld,
        )

    def _failure(self, engine: Engine, exc: Exception) -> str:
        # The reason travels to the client and the logs: our own wording or an exception type,
        # never the exception's message, which may quote the conversation.
        if isinstance(exc, UnusableOutput):
            reason = f"engine {engine.name!r} gave an unusable answer: {exc}"
        elif isinstance(exc, TimeoutError):
            reason = f"engine {engine.name!r} timed out after {self._engine_budget_s:.1f}s"
        else:
            reason = f"engine {engine.name!r} failed with {type(exc).__name__}"
        log.warning("generation fell back to the composer: %s", reason)
        return reason


def _check_strategy(strategy: int | None) -> int:
    if strategy is None:
        raise InvalidArgument("strategy", "is required: one of the 8 ESConv strategies")
    if isinstance(strategy, bool) or not isinstance(strategy, int):
        raise InvalidArgument("strategy", f"must be a strategy index, not {strategy!r}")
    if not 0 <= strategy < len(STRATEGIES):
        raise InvalidArgument("strategy", f"index {strategy} is outside [0, {len(STRATEGIES)})")
    return strategy


def _check_method(method: str) -> str:
    name = (method or "AUTO").strip().upper().removeprefix("GENERATION_METHOD_")
    if name == "UNSPECIFIED":
        name = "AUTO"
    if name not in METHODS:
        raise InvalidArgument("method", f"unknown method {method!r}; expected one of {METHODS}")
    return name


def _check_probabilities(probabilities: tuple[float, ...] | None) -> tuple[float, ...] | None:
    if probabilities is None:
        return None
    values = tuple(float(p) for p in probabilities)
    if len(values) != len(STRATEGIES):
        raise InvalidArgument(
            "strategy_probabilities", f"needs {len(STRATEGIES)} values, got {len(values)}"
        )
    if any(not math.isfinite(p) or p < 0.0 for p in values) or sum(values) <= 0.0:
        raise InvalidArgument("strategy_probabilities", "must be non-negative and not all zero")
    total = sum(values)
    return tuple(p / total for p in values)


def _check_defense(defense: int | None) -> int | None:
    if defense is None:
        return None
    if isinstance(defense, bool) or not isinstance(defense, int):
        raise InvalidArgument("defense_level", f"must be a PsyDefConv label, not {defense!r}")
    if not 0 <= defense < len(DEFENSE_LEVELS):
        raise InvalidArgument(
            "defense_level", f"label {defense} is outside [0, {len(DEFENSE_LEVELS)})"
        )
    return defense


def _check_risk(risk: str | None) -> str | None:
    if not risk:
        return None
    name = risk.strip().upper().removeprefix("RISK_LEVEL_")
    if name == "UNSPECIFIED":
        return None
    if name not in RISK_LEVELS:
        raise InvalidArgument("risk_level", f"unknown risk level {risk!r}")
    return name


def _check_decoding(options: GenerationOptions) -> DecodingOptions:
    if options.max_tokens < 0:
        raise InvalidArgument("options.max_tokens", "must not be negative")
    if not math.isfinite(options.temperature) or options.temperature < 0.0:
        raise InvalidArgument("options.temperature", "must be a non-negative number")
    if not math.isfinite(options.strategy_strength) or options.strategy_strength < 0.0:
        raise InvalidArgument("options.strategy_strength", "must be a non-negative number")
    if options.seed < 0:
        raise InvalidArgument("options.seed", "must not be negative")
    return DecodingOptions(
        max_tokens=options.max_tokens or DEFAULT_MAX_TOKENS,
        temperature=options.temperature,
        # 0 stays 0: each engine applies its own default λ (the llamacpp engine's is measured
        # for its decaying schedule, the vLLM processor's is 1).
        strategy_strength=options.strategy_strength,
        seed=options.seed,
    )
