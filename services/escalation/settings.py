"""Settings of the escalation room, read from ``SOLACE_*`` variables with the same conventions as
``services.common.config`` (``escalation_store_url`` is set by ``SOLACE_ESCALATION_STORE_URL``).

Kept here until the lead folds these fields into ``Settings``; every consumer takes any object
with these attribute names, so ``Settings`` itself can be passed then.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields

from services.common.config import ENV_PREFIX, _coerce


@dataclass(frozen=True)
class EscalationSettings:
    """Where escalations are stored and where they are delivered."""

    # ``sqlite:///path`` or ``postgresql://...``; empty: SQLite beside the models directory.
    escalation_store_url: str = ""
    # Operators' webhook; empty: records are stored but nothing is delivered.
    escalation_webhook_url: str = ""
    # Store the seeker's message text in the record (and send it to the webhook). Off by
    # default: the audit trail needs ids, levels and reasons, not what the seeker wrote.
    escalation_include_text: bool = False
    # Delivery: one HTTP attempt may take ``timeout_s``; a claimed record is leased to one
    # deliverer for ``lease_s`` (must exceed the timeout, so two replicas never send it at once).
    escalation_timeout_s: float = 10.0
    escalation_lease_s: float = 60.0
    escalation_poll_interval_s: float = 1.0
    escalation_backoff_base_s: float = 1.0
    escalation_backoff_max_s: float = 300.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> EscalationSettings:
        env = os.environ if environ is None else environ
        defaults = cls()
        values = {}
        for f in fields(cls):
            name = ENV_PREFIX + f.name.upper()
            if name in env:
                values[f.name] = _coerce(name, env[name], getattr(defaults, f.name))
        return cls(**values)
