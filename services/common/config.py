"""The one config loader: defaults, then an optional YAML file, then ``SOLACE_*`` environment
variables (highest precedence). Every process reads its settings through ``load_settings``.

A field ``grpc_port`` is set by ``SOLACE_GRPC_PORT`` or by ``grpc_port:`` in the file named by
``SOLACE_CONFIG_FILE``.

Settings that belong to one part of the platform are grouped in a section (``SECTIONS``): a
frozen dataclass that is a field of ``Settings`` and is handed whole to the code that uses it,
and only to it (the escalation outbox gets ``settings.escalation``, the TLS helpers
``settings.tls``, the llama.cpp engine ``settings.llm``). Outside the code a section's field
keeps its flat name, the section's name and the field's joined by "_": ``escalation.store_url``
is ``SOLACE_ESCALATION_STORE_URL``, ``escalation_store_url:`` in the file, and
``with_overrides(escalation_store_url=...)``; so the environment variables the chart sets and
the config files stay as they were.

Each service of the registry (``services/registry.py``) adds two fields, named there:
``<name>_port`` (``SOLACE_RISK_PORT``, ...; its standalone port, defaulting to the entry's) and
``<name>_target`` (``SOLACE_RISK_TARGET``, ...; where the standalone Support router reaches it,
"" = ``localhost:<port>``). Code reads them through the entry (``Service.port``,
``Service.target``), never by spelling the name.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar

import yaml

from services.common.errors import InvalidArgument
from services.registry import SERVICES

ENV_PREFIX = "SOLACE_"
CONFIG_FILE_ENV = "SOLACE_CONFIG_FILE"


def _default_models_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return str(Path(base) / "solace" / "models")


def _default_data_dir() -> str:
    # The shared datasets sit beside the checkout; training reads them from a path only.
    return str(Path(__file__).resolve().parents[2].parent / "shared" / "data")


@dataclass(frozen=True)
class EscalationSettings:
    """Durable escalations (``SOLACE_ESCALATION_*``): the audit store (sqlite:///path or
    postgresql://...; empty = SQLite beside the models directory) and the outbox that delivers
    to the operators' webhook."""

    store_url: str = ""
    webhook_url: str = ""
    # Whether the delivered record carries the seeker's words (off: level, reasons and ids).
    include_text: bool = False
    timeout_s: float = 10.0
    lease_s: float = 60.0
    poll_interval_s: float = 1.0
    backoff_base_s: float = 1.0
    backoff_max_s: float = 300.0


@dataclass(frozen=True)
class TlsSettings:
    """TLS (``SOLACE_TLS_*``): a standalone server's certificate and key (TLS; with a client CA,
    mutual TLS), and what the channels that call the services trust and present."""

    cert_file: str = ""
    key_file: str = ""
    client_ca_file: str = ""
    ca_file: str = ""
    client_cert_file: str = ""
    client_key_file: str = ""


@dataclass(frozen=True)
class LlmSettings:
    """The in-process llama.cpp engine ("llamacpp", llama-cpp-python; ``SOLACE_LLM_*``)."""

    # A GGUF file, "" = the SmolLM2-135M-Instruct that `solace models build` installs under
    # <models_dir>/llm, "off" = no llamacpp engine.
    model: str = ""
    # CPU threads (0 = os.cpu_count()). One by default: the colocated platform runs one
    # ingress, and so one engine, per core, and on a shared 2-core machine 2 threads per engine
    # ran 3-20x slower than 1 (docs/benchmarks.md, "LLM engine").
    threads: int = 1
    # Strategy conditioning (kernels/llamacpp_processor.py, docs/generation.md): the bias
    # table ("" = the one `solace models build` writes beside the built SmolLM2; "off" = the
    # prompt only), λ (a request's strategy_strength overrides it), the opening tokens at full
    # strength, the half-life of the decay after them in tokens (0 = constant), and how often
    # a token may be generated before its positive bias goes (0 = never). Defaults measured by
    # `solace eval conditioning` (docs/benchmarks.md, "Strategy conditioning").
    bias_table: str = ""
    strategy_strength: float = 3.0
    strategy_full_tokens: int = 12
    strategy_half_life: float = 24.0
    strategy_max_repeats: int = 2


@dataclass(frozen=True)
class ServeSettings:
    """The Ray Serve app: the cluster it joins, its layout and how each deployment is sized
    and batched (``services/common/serve_options.py``, docs/scaling.md). Its fields keep the
    names they had before it was a section (``SOLACE_REPLICAS``, ``SOLACE_SERVE_TOPOLOGY``,
    ...; ``PREFIX`` is empty): the chart sets them as they are."""

    PREFIX: ClassVar[str] = ""

    # The port of Ray's per-node metrics agent, which exports the Serve replicas' metrics.
    ray_metrics_port: int = 8080
    # The Ray cluster to deploy onto ("" = start a local one).
    ray_address: str = ""
    # Replicas per deployment; 0 = the topology's default: one per deployment with "services",
    # one Support ingress per CPU core of this machine with "colocated".
    replicas: int = 0
    # CPU share Ray reserves per replica: five deployments must fit on a 2-core machine.
    replica_num_cpus: float = 0.2
    # Serve's proxy and handles talk to replicas over gRPC instead of Ray actor calls
    # (RAY_SERVE_USE_GRPC_BY_DEFAULT): on this 2-core machine it raised Support throughput at
    # 8 users from ~60-77 to ~110 req/s (docs/benchmarks.md).
    serve_grpc_transport: bool = True
    # How the Serve app is laid out (services/common/serve_options.py, docs/scaling.md):
    # "colocated" (one machine): each Support ingress replica runs the four services in its own
    # process, so a request crosses no Ray hop after the proxy; "services" (a cluster): one
    # deployment per service, composed through handles, each scaled and placed on its own.
    serve_topology: str = "colocated"
    # Requests one replica works on at once before Serve queues or routes elsewhere.
    max_ongoing_requests: int = 64
    # Scale-out (services/common/serve_options.py; docs/scaling.md). A fixed ``replicas`` count,
    # or, with ``autoscaling``, between min and max replicas aiming at ``target_ongoing_requests``
    # per replica (0 = a per-deployment default for this workload). Upscale fast for a burst of
    # seekers, downscale slowly so a lull does not cost the next burst a cold start.
    autoscaling: bool = False
    min_replicas: int = 1
    max_replicas: int = 4
    target_ongoing_requests: float = 0.0
    upscale_delay_s: float = 10.0
    downscale_delay_s: float = 120.0
    # At most this many replicas of one deployment per node (0 = no limit): 1 spreads replicas.
    max_replicas_per_node: int = 0
    # Request batching in the classifier deployments: one model call for up to
    # ``batch_max_size`` requests that arrive within ``batch_wait_ms`` of the first.
    batching: bool = True
    batch_max_size: int = 16
    batch_wait_ms: float = 2.0
    # Per-deployment overrides (replicas, resources, batching): a YAML ``deployments:`` list.
    serve_deployments_file: str = ""
    # Ray Serve's HTTP proxy (unused by Solace's API, but Serve always starts it).
    http_port: int = 8000


@dataclass(frozen=True)
class AccessSettings:
    """Who may call a server and how much (``services/common/access.py``): API keys, the
    internal key, per-key rate limits and the request size limit. Its fields keep the names
    they had before it was a section (``SOLACE_API_KEYS_FILE``, ``SOLACE_REDIS_URL``, ...)."""

    PREFIX: ClassVar[str] = ""

    # Access limits: per-API-key token buckets (in-process, or shared through Redis when
    # redis_url is set; 0 turns them off) and the largest request message accepted.
    redis_url: str = ""
    rate_limit_per_s: float = 200.0
    rate_limit_burst: int = 400
    rate_limit_prefix: str = "solace:ratelimit"
    max_request_bytes: int = 1024 * 1024
    # API keys: a YAML/JSON file of {keys: [{name, sha256, rate_per_s?, burst?}]}; empty = open.
    api_keys_file: str = ""
    # The internal API key (a file holding it: a mounted Secret). The standalone Support router
    # sends it on every call to the standalone services, and a standalone risk/defense/
    # strategy/generator server given the same file accepts it (as ``solace-internal``, outside
    # the per-key rate limits) when API keys are on. Empty: the router sends no key.
    internal_api_key_file: str = ""


@dataclass(frozen=True)
class _PlatformSettings:
    """The settings that are not a service's own (``Settings`` adds those)."""

    # Network: the router's public port (each standalone service's: ``<name>_port``).
    host: str = "0.0.0.0"
    grpc_port: int = 50051
    # Where the built encoder and caches live, and where training data is read from.
    models_dir: str = dataclasses.field(default_factory=_default_models_dir)
    data_dir: str = dataclasses.field(default_factory=_default_data_dir)
    # Request limits enforced by every RPC.
    max_turns: int = 64
    max_text_chars: int = 4000
    max_situation_chars: int = 4000
    # Per-stage timeouts of the router, in milliseconds.
    risk_timeout_ms: int = 2000
    classify_timeout_ms: int = 2000
    generation_timeout_ms: int = 15000
    # Classifier runtime.
    onnx_threads: int = 1
    max_seq_len: int = 256
    # Where the services of one machine share embeddings (services.common.shared_embeddings):
    # a memory-mapped file per encoder build; "" keeps each service to its own memo.
    shared_embeddings_dir: str = "/dev/shm"
    # Seconds an entry of that file is served and kept: embeddings of what seekers wrote are
    # personal data, so older ones are missed and zeroed (the file goes when the platform stops).
    shared_embeddings_max_age_s: float = 900.0
    # Generation defaults.
    # The engine that writes replies: the in-process llama.cpp model (SmolLM2-135M-Instruct by
    # default, see llm_model); "composer" is the fast deterministic engine, and the fallback
    # whenever an engine fails, times out or is not configured (flagged in the response).
    default_engine: str = "llamacpp"
    default_locale: str = "en-US"
    # Streamed replies: text deltas that arrive within this many milliseconds of the last
    # chunk sent are joined into the next one (0 = one chunk per engine delta); see
    # services/generator/coalesce.py.
    stream_flush_ms: float = 20.0
    # Generation engines beside the embedded composer: an OpenAI-compatible server, and an
    # in-process vLLM model folder (the `vllm` extra), both strategy-conditioned through the
    # strategy bias table built by `python -m kernels.bias_table`.
    openai_base_url: str = ""
    openai_model: str = ""
    openai_api_key: str = ""
    openai_bias_table: str = ""
    vllm_model: str = ""
    strategy_bias_table: str = ""
    # The in-process llama.cpp engine (a section: ``LlmSettings``).
    llm: LlmSettings = dataclasses.field(default_factory=LlmSettings)
    # Telemetry: Prometheus /metrics port of a standalone process (0 = off).
    metrics_port: int = 0
    # Ray Serve: where the app runs and how it is sized (a section, ``ServeSettings``).
    serve: ServeSettings = dataclasses.field(default_factory=ServeSettings)
    # Who may call and how much (a section, ``AccessSettings``).
    access: AccessSettings = dataclasses.field(default_factory=AccessSettings)
    # Safety policy (risk thresholds, supportive strategies) and crisis resources: operator
    # editable YAML files; empty = the packaged defaults.
    safety_config: str = ""
    crisis_resources_file: str = ""
    # Durable escalations and TLS (sections: ``EscalationSettings``, ``TlsSettings``).
    escalation: EscalationSettings = dataclasses.field(default_factory=EscalationSettings)
    tls: TlsSettings = dataclasses.field(default_factory=TlsSettings)
    # Graceful stop: how long in-flight RPCs get after SIGTERM.
    shutdown_grace_s: float = 5.0
    log_level: str = "INFO"

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with ``changes`` by their outside names (``escalation_store_url=...``; a
        section may also be given whole, ``tls=TlsSettings(...)``)."""
        return _replace(self, changes)


# Every setting of the platform, with its embedded default: the platform's own, then each
# registry service's standalone port and the address the standalone router calls it at.
Settings = dataclasses.make_dataclass(
    "Settings",
    [
        field
        for service in SERVICES
        for field in (
            (service.port_setting, int, dataclasses.field(default=service.default_port)),
            (service.target_setting, str, dataclasses.field(default="")),
        )
    ],
    bases=(_PlatformSettings,),
    frozen=True,
)
Settings.__module__ = __name__  # so it pickles by reference (Ray hands it to every replica)
Settings.__doc__ = """Every setting of the platform, with its embedded default (the module docstring
says where each service's port and target come from)."""


def _coerce(name: str, raw: Any, target: Any) -> Any:
    kind = type(target)
    try:
        if kind is bool:
            if isinstance(raw, bool):
                return raw
            return str(raw).strip().lower() in {"1", "true", "yes", "on"}
        return kind(raw)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(name, f"cannot read {raw!r} as {kind.__name__}") from exc


# Every section of ``Settings``: its field name -> its dataclass.
SECTIONS: dict[str, type] = {
    f.name: f.default_factory  # type: ignore[misc]
    for f in fields(_PlatformSettings)
    if dataclasses.is_dataclass(f.default_factory)
}


@functools.cache
def setting_names() -> Mapping[str, tuple[str | None, str]]:
    """Every setting's outside name (its environment variable without ``SOLACE_``, lower case;
    its key in the config file) -> (section or None, field). A section's fields are named
    ``<section>_<field>`` outside, or with the section's own ``PREFIX`` where it has one."""
    out: dict[str, tuple[str | None, str]] = {}
    for f in fields(Settings):
        if f.name in SECTIONS:
            prefix = getattr(SECTIONS[f.name], "PREFIX", f"{f.name}_")
            for sub in fields(SECTIONS[f.name]):
                out[f"{prefix}{sub.name}"] = (f.name, sub.name)
        else:
            out[f.name] = (None, f.name)
    return MappingProxyType(out)  # computed once: read-only


def setting_value(settings: Settings, name: str) -> Any:
    """The value of the setting ``name`` (an outside name, as ``setting_names``)."""
    section, field = setting_names()[name]
    holder = settings if section is None else getattr(settings, section)
    return getattr(holder, field)


def _replace(settings: Settings, changes: dict[str, Any]) -> Settings:
    names = setting_names()
    top: dict[str, Any] = {}
    per_section: dict[str, dict[str, Any]] = {}
    for name, value in changes.items():
        if name in SECTIONS and dataclasses.is_dataclass(value):
            top[name] = value
            continue
        if name not in names:
            raise TypeError(f"unknown setting {name!r}")
        section, field = names[name]
        if section is None:
            top[name] = value
        else:
            per_section.setdefault(section, {})[field] = value
    for section, values in per_section.items():
        base = top.get(section, getattr(settings, section))
        top[section] = dataclasses.replace(base, **values)
    return dataclasses.replace(settings, **top)


def load_settings(environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
    """Settings from defaults < ``SOLACE_CONFIG_FILE`` (YAML) < ``SOLACE_*`` env < overrides."""
    env = os.environ if environ is None else environ
    defaults = Settings()
    values: dict[str, Any] = {}
    known = setting_names()

    config_file = env.get(CONFIG_FILE_ENV)
    if config_file:
        loaded = yaml.safe_load(Path(config_file).read_text()) or {}
        if not isinstance(loaded, dict):
            raise InvalidArgument(CONFIG_FILE_ENV, "the config file must hold a mapping")
        for key, raw in loaded.items():
            if key not in known:
                raise InvalidArgument(f"{config_file}:{key}", "unknown setting")
            values[key] = _coerce(key, raw, setting_value(defaults, key))

    for name in known:
        raw = env.get(ENV_PREFIX + name.upper())
        if raw is not None:
            values[name] = _coerce(ENV_PREFIX + name.upper(), raw, setting_value(defaults, name))

    values.update(overrides)
    return _replace(defaults, values)
