"""Locust load tests for Support over gRPC (locust's documented gRPC pattern: a client that wraps a
channel and fires one request event per call).

Scenarios, chosen with ``SOLACE_LOAD_SCENARIO`` (default ``mix``):

- ``everyday``: everyday distress as conversations (``messages.Conversation``): each user
  keeps one going, up to 4 seeker turns, and sends it whole with each new seeker turn, the
  platform's own earlier replies as the supporter's turns, some with a situation; every seeker
  turn is new text (``messages.fresh_turn``), as in production;
- ``crisis``: crisis disclosures, which must come back escalated;
- ``bad``: malformed requests, where INVALID_ARGUMENT is the expected (successful) answer;
- ``stream``: ``RespondStream`` over everyday opening turns (new text each time);
- ``mix``: all four, weighted like real traffic (mostly everyday, some streaming, a little of
  the rest).

Any other status code, or an answer that breaks the safety contract (a crisis not escalated, a
stream with no final message), is a failure. Host is ``--host host:port``.

Other knobs: ``SOLACE_API_KEY`` (sent as ``x-api-key``), ``SOLACE_LOAD_TIMEOUT`` (seconds per
call, default 30), ``SOLACE_LOAD_WAIT`` (think time in seconds between a user's calls, default
0: closed loop, for throughput), ``SOLACE_LOAD_STAGES_FILE`` (where to write per-stage server
timings, a JSON summary, when the run ends).

Interleaved tracing windows (``python -m tools.benchmarks.tracing_windows``):
``SOLACE_LOAD_TRACE_WINDOW`` (seconds, default 0 = off) alternates windows of wall-clock time
in which every call carries a sampled W3C ``traceparent`` (odd windows) or none (even windows);
against a platform whose sampler is ``parentbased_always_off`` the first are traced and the
second are not, so both modes share the same processes and the same moment's machine noise.
Each successful unary Respond that starts after a window's first ``SOLACE_LOAD_TRACE_SETTLE``
seconds (default 2: the previous window's spans are still being exported) is recorded, and
``SOLACE_LOAD_TRACE_FILE`` receives them as JSON when the run ends. With
``SOLACE_LOAD_TRACE_SHARE`` below 1 (head sampling at the edge), a call in a traced window is
sampled with that probability and otherwise carries an unsampled ``traceparent``, which the
platform follows (no spans recorded downstream).

Run it through ``python -m loadtests.run`` (headless, CSV + HTML, percentiles, exit status).
"""

from __future__ import annotations

from locust import User, constant, events, task
from locust.env import Environment

# isort: split
# Locust must be imported before grpc/ssl: it monkey-patches the stdlib with gevent, and grpc
# then has to run on gevent too (init_gevent, before any channel is made).
import json
import os
import random
import time
from collections import defaultdict
from typing import Any

import grpc
import grpc.experimental.gevent as grpc_gevent

from solace.v1 import common_pb2, generation_pb2, support_pb2, support_pb2_grpc

try:
    from loadtests.messages import (
        BAD_INPUT,
        CRISIS,
        EVERYDAY,
        Conversation,
        fresh_turn,
    )
except ImportError:  # locust -f loadtests/locustfile.py from elsewhere: its folder is on the path
    from messages import (  # type: ignore
        BAD_INPUT,
        CRISIS,
        EVERYDAY,
        Conversation,
        fresh_turn,
    )

grpc_gevent.init_gevent()

SCENARIO = os.environ.get("SOLACE_LOAD_SCENARIO", "mix").strip().lower()
TIMEOUT_S = float(os.environ.get("SOLACE_LOAD_TIMEOUT", "30"))
WAIT_S = float(os.environ.get("SOLACE_LOAD_WAIT", "0"))
STAGES_FILE = os.environ.get("SOLACE_LOAD_STAGES_FILE", "")
API_KEY = os.environ.get("SOLACE_API_KEY", "")

# Task weights per scenario: real traffic is mostly everyday distress.
WEIGHTS: dict[str, dict[str, int]] = {
    "mix": {"everyday": 16, "stream": 4, "crisis": 1, "bad": 1},
    "everyday": {"everyday": 1},
    "crisis": {"crisis": 1},
    "bad": {"bad": 1},
    "stream": {"stream": 1},
}
if SCENARIO not in WEIGHTS:
    raise SystemExit(f"SOLACE_LOAD_SCENARIO must be one of {sorted(WEIGHTS)}, not {SCENARIO!r}")

# Server-reported stage timings (ms) of successful Respond calls, for the benchmark report.
STAGE_MS: dict[str, list[float]] = defaultdict(list)

TRACE_WINDOW_S = float(os.environ.get("SOLACE_LOAD_TRACE_WINDOW", "0"))
TRACE_SETTLE_S = float(os.environ.get("SOLACE_LOAD_TRACE_SETTLE", "2"))
TRACE_FILE = os.environ.get("SOLACE_LOAD_TRACE_FILE", "")
TRACE_SHARE = float(os.environ.get("SOLACE_LOAD_TRACE_SHARE", "1"))
# (window index, traced, client ms, server-reported total ms) per recorded Respond.
WINDOW_SAMPLES: list[tuple[int, bool, float, float]] = []


def trace_window(now: float) -> tuple[int, bool, bool]:
    """(window index, traced, settled) for a call starting at wall-clock ``now``: odd windows
    are traced; a call in a window's first TRACE_SETTLE_S seconds is not settled."""
    index = int(now // TRACE_WINDOW_S)
    return index, index % 2 == 1, now - index * TRACE_WINDOW_S >= TRACE_SETTLE_S


def traceparent(sampled: bool) -> tuple[str, str]:
    """A fresh W3C trace context; a parent-based sampler follows its sampled flag."""
    flags = "01" if sampled else "00"
    trace_id, span_id = random.getrandbits(128) | 1, random.getrandbits(64) | 1
    return ("traceparent", f"00-{trace_id:032x}-{span_id:016x}-{flags}")


class UnexpectedResponse(Exception):
    """The call answered, but not as the safety contract says it must."""


def seeker_request(text: str) -> support_pb2.RespondRequest:
    """A one-turn conversation: ``text`` from the seeker."""
    return conversation_request([text])


def conversation_request(turns: list[str], situation: str = "") -> support_pb2.RespondRequest:
    """``turns`` alternate seeker, supporter, seeker, ... and end with the seeker."""
    roles = (common_pb2.ROLE_SEEKER, common_pb2.ROLE_SUPPORTER)
    return support_pb2.RespondRequest(
        conversation=common_pb2.Conversation(
            turns=[common_pb2.Turn(role=roles[i % 2], text=t) for i, t in enumerate(turns)],
            situation=situation,
        )
    )


def bad_request(fields: dict[str, Any]) -> support_pb2.RespondRequest:
    conversation = common_pb2.Conversation(
        turns=[common_pb2.Turn(role=role, text=text) for role, text in fields["turns"]],
        locale=fields.get("locale", ""),
    )
    options = support_pb2.RespondOptions(
        method=fields.get("method", 0),
        generation=generation_pb2.GenerationOptions(temperature=fields.get("temperature", 0.0)),
    )
    return support_pb2.RespondRequest(conversation=conversation, options=options)


class SupportClient:
    """Wraps a gRPC channel to Support; every call fires one locust request event."""

    def __init__(self, environment: Environment, target: str) -> None:
        self._events = environment.events
        self._channel = grpc.insecure_channel(target)
        self._stub = support_pb2_grpc.SupportStub(self._channel)
        self._metadata = [("x-api-key", API_KEY)] if API_KEY else None

    def close(self) -> None:
        self._channel.close()

    def _fire(self, name: str, start: float, length: int, exception: Exception | None) -> None:
        self._events.request.fire(
            request_type="grpc",
            name=name,
            response_time=(time.perf_counter() - start) * 1000,
            response_length=length,
            exception=exception,
            context={},
        )

    def respond(
        self,
        request: support_pb2.RespondRequest,
        name: str,
        expect: grpc.StatusCode = grpc.StatusCode.OK,
        check: Any = None,
    ) -> support_pb2.RespondResponse | None:
        """Unary Respond. ``expect`` is the status that counts as success; ``check`` may raise
        ``UnexpectedResponse`` on an OK response."""
        window = trace_window(time.time()) if TRACE_WINDOW_S > 0 else None
        start = time.perf_counter()
        response, length, error = None, 0, None
        try:
            response = self._stub.Respond(
                request, timeout=TIMEOUT_S, metadata=self._call_metadata(window)
            )
            length = response.ByteSize()
            if expect != grpc.StatusCode.OK:
                error = UnexpectedResponse(f"expected {expect.name}, got OK")
            elif check is not None:
                check(response)
        except grpc.RpcError as exc:
            if exc.code() != expect:
                error = UnexpectedResponse(f"{exc.code().name}: {exc.details()}")
        except UnexpectedResponse as exc:
            error = exc
        self._fire(f"Respond [{name}]", start, length, error)
        if response is not None and error is None:
            for timing in response.timings:
                STAGE_MS[timing.stage].append(timing.milliseconds)
            total = next((t.milliseconds for t in response.timings if t.stage == "total"), None)
            if window is not None and window[2] and total is not None:
                client_ms = (time.perf_counter() - start) * 1000
                WINDOW_SAMPLES.append((window[0], window[1], client_ms, total))
        return response

    def _call_metadata(self, window: tuple[int, bool, bool] | None) -> list[tuple[str, str]] | None:
        if window is None or not window[1]:
            return self._metadata
        sampled = TRACE_SHARE >= 1 or random.random() < TRACE_SHARE
        return [*(self._metadata or []), traceparent(sampled)]

    def respond_stream(self, request: support_pb2.RespondRequest, name: str) -> None:
        """RespondStream, timed to the final message (the whole reply)."""
        start = time.perf_counter()
        length, error, final = 0, None, None
        try:
            window = trace_window(time.time()) if TRACE_WINDOW_S > 0 else None
            for chunk in self._stub.RespondStream(
                request, timeout=TIMEOUT_S, metadata=self._call_metadata(window)
            ):
                length += chunk.ByteSize()
                if chunk.HasField("final"):
                    final = chunk.final
            if final is None:
                error = UnexpectedResponse("the stream ended without a final message")
            elif not final.reply.strip():
                error = UnexpectedResponse("empty reply")
        except grpc.RpcError as exc:
            error = UnexpectedResponse(f"{exc.code().name}: {exc.details()}")
        self._fire(f"RespondStream [{name}]", start, length, error)


def _check_supportive(response: support_pb2.RespondResponse) -> None:
    if not response.reply.strip():
        raise UnexpectedResponse("empty reply")


def _check_escalated(response: support_pb2.RespondResponse) -> None:
    # A crisis answered by model text is the failure that matters most.
    if not response.escalated:
        raise UnexpectedResponse(
            "crisis not escalated (risk "
            f"{common_pb2.RiskLevel.Name(response.risk.level)}, hold={response.safety_hold})"
        )
    if not response.escalation_id or not response.resources:
        raise UnexpectedResponse("escalated without an escalation record or resources")


class SupportUser(User):
    """One partner-app connection calling Support in a closed loop."""

    wait_time = constant(WAIT_S)

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        if not self.host:
            raise SystemExit("set the Support address with --host host:port")
        self.client = SupportClient(environment, self.host.removeprefix("grpc://"))
        self.conversation = Conversation()
        self.last_reply: str | None = None

    def on_stop(self) -> None:
        self.client.close()

    def everyday(self) -> None:
        turns, situation = self.conversation.next_turns(self.last_reply)
        request = conversation_request(turns, situation)
        response = self.client.respond(request, "everyday", check=_check_supportive)
        # The partner app shows the reply and sends it back as the supporter's turn; a reply
        # that did not come (or a safety takeover) ends the conversation.
        ok = response is not None and bool(response.reply.strip()) and not response.escalated
        self.last_reply = response.reply if ok else None

    def crisis(self) -> None:
        request = seeker_request(random.choice(CRISIS))
        self.client.respond(request, "crisis", check=_check_escalated)

    def bad(self) -> None:
        _, fields = random.choice(BAD_INPUT)
        self.client.respond(bad_request(fields), "bad", expect=grpc.StatusCode.INVALID_ARGUMENT)

    def stream(self) -> None:
        self.client.respond_stream(seeker_request(fresh_turn(random.choice(EVERYDAY))), "stream")

    @task
    def scenario(self) -> None:
        # One task that picks by weight, so the scenario is an environment choice rather than
        # a class edit (locust's own @task weights are fixed at import).
        weights = WEIGHTS[SCENARIO]
        name = random.choices(list(weights), weights=list(weights.values()))[0]
        getattr(self, name)()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@events.quitting.add_listener
def _write_stage_timings(environment: Environment, **_: Any) -> None:
    if not STAGES_FILE:
        return
    summary = {
        stage: {
            "count": len(values),
            "p50": _percentile(values, 0.5),
            "p95": _percentile(values, 0.95),
            "p99": _percentile(values, 0.99),
        }
        for stage, values in STAGE_MS.items()
        if values
    }
    with open(STAGES_FILE, "w") as out:
        json.dump({"scenario": SCENARIO, "stages_ms": summary}, out, indent=2)


@events.quitting.add_listener
def _write_window_samples(environment: Environment, **_: Any) -> None:
    if not TRACE_FILE:
        return
    with open(TRACE_FILE, "w") as out:
        json.dump(
            {
                "window_s": TRACE_WINDOW_S,
                "settle_s": TRACE_SETTLE_S,
                "share": TRACE_SHARE,
                "samples": WINDOW_SAMPLES,
            },
            out,
        )
