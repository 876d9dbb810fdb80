"""The crisis protocol's words: the crisis reply sent instead of model text at HIGH/IMMINENT risk,
the holding reply sent when screening is down (fail closed), and the locale's crisis resources.

Resources come from an operator-editable YAML file: the path the caller passes (the router passes
``settings.crisis_resources_file``, set by ``SOLACE_CRISIS_RESOURCES_FILE``) or the packaged
``crisis_resources.yaml``. The file is re-read when its modification time changes, so an
operator's edit takes effect without a restart. Locale lookup: the exact BCP-47 tag, then shorter
prefixes ("en-GB-x-y" -> "en-GB" -> "en"), then the file's ``default`` entry. Nothing here is
generated: every sentence is fixed text an operator can review.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from services.common.errors import InvalidArgument

PACKAGED_RESOURCES = Path(__file__).with_name("crisis_resources.yaml")
DEFAULT_KEY = "default"

CRISIS_MESSAGE = (
    "I'm really glad you told me, and I'm concerned about your safety right now. "
    "You deserve support from a person who can help immediately. "
    "Please reach out to one of these now:"
)
HOLDING_MESSAGE = (
    "Thank you for sharing this with me. I want to make sure you get a careful reply, and I "
    "can't give one right this moment. If you are struggling or thinking about hurting "
    "yourself, please reach out to someone now:"
)
EMERGENCY_LINE = (
    "If you are in immediate danger, call {emergency} or go to the nearest emergency room."
)
CLOSING_LINE = "You don't have to go through this alone."


@dataclass(frozen=True, slots=True)
class CrisisResource:
    """One resource, shaped like the proto's ``CrisisResource``."""

    name: str
    contact: str
    url: str = ""
    description: str = ""


@dataclass(frozen=True, slots=True)
class LocaleResources:
    """What one locale offers: its emergency number, its resources and an optional opening."""

    locale: str
    emergency: str
    resources: tuple[CrisisResource, ...]
    message: str = ""


class ResourceBook:
    """The parsed resources file. ``lookup(locale)`` never fails: unknown locales get default."""

    def __init__(self, entries: Mapping[str, LocaleResources]) -> None:
        if DEFAULT_KEY not in entries:
            raise InvalidArgument("crisis_resources", "the file needs a 'default' entry")
        self._entries = {key.lower(): value for key, value in entries.items()}

    def lookup(self, locale: str) -> LocaleResources:
        tag = (locale or "").strip().replace("_", "-").lower()
        parts = tag.split("-") if tag else []
        while parts:
            found = self._entries.get("-".join(parts))
            if found is not None:
                return found
            parts.pop()
        return self._entries[DEFAULT_KEY]

    @classmethod
    def parse(cls, data: Any, origin: str) -> ResourceBook:
        if not isinstance(data, dict) or DEFAULT_KEY not in data:
            raise InvalidArgument(origin, "a crisis resources file holds 'default' and 'locales'")
        entries = {DEFAULT_KEY: _parse_entry(DEFAULT_KEY, data[DEFAULT_KEY], origin)}
        for key, raw in (data.get("locales") or {}).items():
            entries[str(key)] = _parse_entry(str(key), raw, origin)
        return cls(entries)


def _parse_entry(locale: str, raw: Any, origin: str) -> LocaleResources:
    if not isinstance(raw, dict):
        raise InvalidArgument(f"{origin}:{locale}", "must be a mapping")
    resources = []
    for i, item in enumerate(raw.get("resources") or []):
        if not isinstance(item, dict) or not item.get("name") or not item.get("contact"):
            raise InvalidArgument(f"{origin}:{locale}.resources[{i}]", "needs name and contact")
        resources.append(
            CrisisResource(
                name=str(item["name"]),
                contact=str(item["contact"]),
                url=str(item.get("url", "")),
                description=str(item.get("description", "")),
            )
        )
    if not resources:
        raise InvalidArgument(f"{origin}:{locale}", "lists no resources")
    return LocaleResources(
        locale=locale,
        emergency=str(raw.get("emergency") or "your local emergency number"),
        resources=tuple(resources),
        message=str(raw.get("message") or ""),
    )


_cache_lock = threading.Lock()
_cache: dict[str, tuple[float, ResourceBook]] = {}


def resources_path(path: str | None = None) -> Path:
    """``path``, or the packaged file when it is None or empty."""
    return Path(path or PACKAGED_RESOURCES)


def load_resources(path: str | None = None) -> ResourceBook:
    """The resources file, parsed once per modification time."""
    file = resources_path(path)
    mtime = file.stat().st_mtime
    key = str(file)
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None and cached[0] == mtime:
            return cached[1]
    book = ResourceBook.parse(yaml.safe_load(file.read_text(encoding="utf-8")), key)
    with _cache_lock:
        _cache[key] = (mtime, book)
    return book


def resources_for(locale: str, path: str | None = None) -> list[CrisisResource]:
    """The locale's resources followed by its emergency number, as attached to replies."""
    entry = load_resources(path).lookup(locale)
    emergency = CrisisResource(
        name="Emergency services",
        contact=f"Call {entry.emergency}",
        description="For immediate danger",
    )
    return [*entry.resources, emergency]


def _reply(opening: str, locale: str, path: str | None) -> tuple[str, list[CrisisResource]]:
    entry = load_resources(path).lookup(locale)
    lines = [opening]
    for resource in entry.resources:
        extra = f" ({resource.description})" if resource.description else ""
        lines.append(f"- {resource.name}: {resource.contact}{extra}")
    lines.append(EMERGENCY_LINE.format(emergency=entry.emergency))
    lines.append(CLOSING_LINE)
    return "\n".join(lines), resources_for(locale, path)


def crisis_reply(locale: str, path: str | None = None) -> tuple[str, list[CrisisResource]]:
    """The fixed reply sent instead of model text at HIGH/IMMINENT risk, and its resources."""
    entry = load_resources(path).lookup(locale)
    return _reply(entry.message or CRISIS_MESSAGE, locale, path)


def holding_reply(locale: str, path: str | None = None) -> tuple[str, list[CrisisResource]]:
    """The fail-closed reply when the risk screen is unavailable: supportive, not generated,
    with the locale's resources because the seeker's risk is unknown."""
    return _reply(HOLDING_MESSAGE, locale, path)


THIRD_PARTY_LINE = (
    "If you think they may be in immediate danger, call {emergency} now. {name} ({contact}) "
    "can also help you support them, and you can reach out together."
)


def third_party_note(locale: str, path: str | None = None) -> str:
    """Appended to the reply when the seeker voices concern for someone else's safety: the
    seeker is not treated as at risk, but gets what they need to help the other person."""
    entry = load_resources(path).lookup(locale)
    first = entry.resources[0] if entry.resources else None
    if first is None:
        return EMERGENCY_LINE.format(emergency=entry.emergency)
    return THIRD_PARTY_LINE.format(
        emergency=entry.emergency, name=first.name, contact=first.contact
    )
