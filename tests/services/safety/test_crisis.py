"""The crisis protocol's replies and the locale lookup of the operator-editable resources file."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from services.common.config import load_settings
from services.common.errors import InvalidArgument
from services.safety.crisis import (
    PACKAGED_RESOURCES,
    crisis_reply,
    holding_reply,
    load_resources,
    resources_for,
    resources_path,
)


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("en-US", "988"),
        ("en-GB", "116 123"),
        ("en-AU", "13 11 14"),
        ("en-CA", "9-8-8"),
        ("en-IE", "116 123"),
        ("en-IN", "14416"),
        ("en_us", "988"),  # underscores and case are tolerated
        ("en-GB-oxendict", "116 123"),  # falls back to the language-region prefix
    ],
)
def test_crisis_reply_names_the_locales_lifeline(locale: str, expected: str) -> None:
    text, resources = crisis_reply(locale)
    assert expected in text
    assert any(expected in r.contact for r in resources)
    assert resources[-1].name == "Emergency services"


@pytest.mark.parametrize("locale", ["fr-FR", "", "xx"])
def test_unknown_locale_gets_the_generic_default(locale: str) -> None:
    text, resources = crisis_reply(locale)
    assert "findahelpline.com" in text
    assert "local emergency number" in text
    assert resources[0].url == "https://findahelpline.com"


def test_us_resources_include_crisis_text_line() -> None:
    contacts = [r.contact for r in resources_for("en-US")]
    assert "Text HOME to 741741" in contacts
    assert "Call or text 988" in contacts


def test_holding_reply_is_supportive_and_carries_resources() -> None:
    text, resources = holding_reply("en-GB")
    assert "Samaritans" in text and "999" in text
    assert resources
    crisis_text, _ = crisis_reply("en-GB")
    assert text != crisis_text


def test_operator_file_overrides_and_edits_take_effect(tmp_path: Path) -> None:
    file = tmp_path / "resources.yaml"
    file.write_text(
        "default: {emergency: '112', resources: [{name: Base, contact: 'Call 1'}]}\n"
        "locales:\n  de: {emergency: '112', message: 'Hallo.', resources: "
        "[{name: TelefonSeelsorge, contact: 'Call 0800 111 0 111'}]}\n"
    )
    path = load_settings({"SOLACE_CRISIS_RESOURCES_FILE": str(file)}).crisis_resources_file
    text, _ = crisis_reply("de-AT", path)
    assert text.startswith("Hallo.") and "TelefonSeelsorge" in text
    assert "Base" in crisis_reply("en-US", path)[0]
    file.write_text("default: {resources: [{name: Edited, contact: 'Call 2'}]}\n")
    later = time.time() + 5
    os.utime(file, (later, later))
    assert "Edited" in crisis_reply("de", path)[0]


def test_resources_file_comes_from_settings_not_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = tmp_path / "resources.yaml"
    file.write_text("default: {emergency: '112', resources: [{name: Base, contact: 'Call 1'}]}\n")
    monkeypatch.setenv("SOLACE_CRISIS_RESOURCES_FILE", str(file))
    # No path given: the packaged file, whatever the environment says.
    assert resources_path() == PACKAGED_RESOURCES and resources_path("") == PACKAGED_RESOURCES
    assert "988" in crisis_reply("en-US")[0]
    # The variable reaches the replies through load_settings, as the router passes it.
    settings = load_settings()
    assert resources_path(settings.crisis_resources_file) == file
    assert "Base" in crisis_reply("en-US", settings.crisis_resources_file)[0]


def test_broken_file_is_rejected_with_the_field(tmp_path: Path) -> None:
    file = tmp_path / "bad.yaml"
    file.write_text("default: {resources: [{name: NoContact}]}\n")
    with pytest.raises(InvalidArgument, match=r"resources\[0\]"):
        load_resources(str(file))
