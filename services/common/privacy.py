"""The guard that keeps message text out of telemetry: span attributes pass ``safe_attributes``
(numbers, booleans, enum names, ids and short single tokens; anything with spaces is text and is
dropped)."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

log = logging.getLogger("solace.telemetry")

# -- the attribute guard -------------------------------------------------------------------------

# Strings allowed in span attributes: enum names (RISK_LEVEL_HIGH), ids (hex, uuid), and short
# single tokens such as RPC paths or engine names. Anything with spaces is treated as text.
_ENUM = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")
_ID = re.compile(r"^[0-9a-fA-F-]{8,64}$")
_TOKEN = re.compile(r"^[A-Za-z0-9_.:/\-]{1,80}$")
# Keys whose values are free short tokens (not message content) by construction.
_TOKEN_KEYS = frozenset(
    {
        "rpc.system",
        "rpc.service",
        "rpc.method",
        "rpc.grpc.status_code",
        "solace.service",
        "solace.stage",
        "solace.method",
        "solace.engine",
        "solace.code",
        "solace.request_id",
        "solace.escalation_id",
        "solace.model",
        "solace.model_version",
        "solace.fallback_reason_kind",
    }
)


def _safe_value(key: str, value: Any) -> Any | None:
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        if _ENUM.match(value) or _ID.match(value):
            return value
        if key in _TOKEN_KEYS and _TOKEN.match(value):
            return value
    return None


def safe_attributes(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    """Only numbers, booleans, enum names, ids and (for known keys) short tokens survive.

    The policy in ARCHITECTURE.md: message text never reaches a trace. Anything that could be
    text is dropped here rather than trusted to every call site.
    """
    safe: dict[str, Any] = {}
    for key, value in (attributes or {}).items():
        kept = _safe_value(key, value)
        if kept is not None:
            safe[key] = kept
        elif value is not None:
            log.debug("dropped span attribute %s (not a number, enum or id)", key)
    return safe
