"""The internal key at the access check: admitted by the standalone services (``accept_internal``)
outside the rate limits, never by Support, never closing an open server; read from its file."""

from __future__ import annotations

import pytest

from services.common.access import AccessControl
from services.common.auth import INTERNAL_KEY_NAME, hash_key, read_key_file
from services.common.config import Settings
from services.common.errors import InvalidArgument, Unauthenticated
from services.common.ratelimit import RateLimited

INTERNAL = "sk_internal_unit"
PARTNER = "sk_partner_unit"


@pytest.fixture
def files(tmp_path):
    keys = tmp_path / "keys.yaml"
    keys.write_text(f"keys:\n  - {{name: partner, sha256: {hash_key(PARTNER)}}}\n")
    internal = tmp_path / "internal"
    internal.write_text(f"  {INTERNAL}\n")
    return keys, internal


def _settings(keys, internal) -> Settings:
    return Settings().with_overrides(
        api_keys_file=str(keys) if keys else "",
        internal_api_key_file=str(internal),
        rate_limit_per_s=0.001,
        rate_limit_burst=1,
    )


def md(key: str) -> list[tuple[str, str]]:
    return [("x-api-key", key)]


async def test_services_admit_the_internal_key_outside_the_rate_limits(files):
    access = AccessControl(_settings(*files).access, accept_internal=True)
    for _ in range(20):
        assert await access.admit(md(INTERNAL)) == INTERNAL_KEY_NAME
    assert await access.admit(md(PARTNER)) == "partner"
    with pytest.raises(RateLimited):
        await access.admit(md(PARTNER))
    with pytest.raises(Unauthenticated):
        await access.admit(None)


async def test_support_does_not_admit_the_internal_key(files):
    access = AccessControl(_settings(*files).access)
    with pytest.raises(Unauthenticated):
        await access.admit(md(INTERNAL))


async def test_a_listed_internal_key_keeps_its_entry(files, tmp_path):
    keys, internal = files
    keys.write_text(keys.read_text() + f"  - {{name: router, sha256: {hash_key(INTERNAL)}}}\n")
    access = AccessControl(_settings(keys, internal).access, accept_internal=True)
    assert await access.admit(md(INTERNAL)) == "router"
    with pytest.raises(RateLimited):  # its entry's limits apply
        await access.admit(md(INTERNAL))


def test_no_partner_key_may_take_the_internal_name(files):
    keys, internal = files
    keys.write_text(keys.read_text() + f"  - {{name: {INTERNAL_KEY_NAME}, sha256: {'a' * 64}}}\n")
    with pytest.raises(InvalidArgument, match="kept for the internal key"):
        AccessControl(_settings(keys, internal).access, accept_internal=True)


async def test_the_internal_key_alone_never_closes_an_open_server(files):
    _, internal = files
    access = AccessControl(_settings(None, internal).access, accept_internal=True)
    assert access.is_open
    assert await access.admit(None) == "anonymous"


def test_the_key_file_must_hold_one_key(tmp_path):
    path = tmp_path / "key"
    path.write_text("sk_abc\n")
    assert read_key_file("SOLACE_INTERNAL_API_KEY_FILE", path) == "sk_abc"
    for text in ("", "  \n", "two keys\n"):
        path.write_text(text)
        with pytest.raises(InvalidArgument, match="SOLACE_INTERNAL_API_KEY_FILE"):
            read_key_file("SOLACE_INTERNAL_API_KEY_FILE", path)
    with pytest.raises(InvalidArgument, match="cannot read"):
        read_key_file("SOLACE_INTERNAL_API_KEY_FILE", tmp_path / "missing")
