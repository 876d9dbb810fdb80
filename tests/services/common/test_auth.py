"""API keys: hashed at rest, several keys with names, UNAUTHENTICATED without a valid one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.common.auth import (
    OPEN_KEY_NAME,
    ApiKey,
    ApiKeyAuthenticator,
    generate_key,
    hash_key,
)
from services.common.config import Settings, load_settings
from services.common.errors import InvalidArgument, Unauthenticated

KEY_A = "sk_partner_a_secret"
KEY_A2 = "sk_partner_a_rotated"
KEY_OPS = "sk_ops_secret"


@pytest.fixture
def keys_file(tmp_path: Path) -> Path:
    path = tmp_path / "keys.yaml"
    path.write_text(
        "keys:\n"
        f"  - {{name: partner-a, sha256: {hash_key(KEY_A)}}}\n"
        f"  - {{name: partner-a, sha256: {hash_key(KEY_A2)}}}\n"
        f"  - {{name: ops, sha256: {hash_key(KEY_OPS)}, rate_per_s: 50, burst: 100}}\n"
    )
    return path


def test_hash_key_is_sha256_hex() -> None:
    assert hash_key("test") == ("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")
    key = generate_key()
    assert key.startswith("sk_") and len(key) > 40 and generate_key() != key


def test_keys_are_named_and_several_per_name(keys_file: Path) -> None:
    auth = ApiKeyAuthenticator.from_settings(
        load_settings({"SOLACE_API_KEYS_FILE": str(keys_file)}).access
    )
    assert not auth.is_open
    assert auth.names == ["ops", "partner-a"]
    assert auth.authenticate([("x-api-key", KEY_A)]) == "partner-a"
    assert auth.authenticate([("x-api-key", KEY_A2)]) == "partner-a"
    assert auth.authenticate([("user-agent", "x"), ("authorization", f"Bearer {KEY_OPS}")]) == "ops"
    assert auth.rate_limits() == {"ops": (50.0, 100)}
    # Only hashes are kept: the file holds no key.
    assert KEY_A not in keys_file.read_text()


@pytest.mark.parametrize(
    "metadata",
    [
        [],
        None,
        [("x-api-key", "")],
        [("x-api-key", "sk_wrong")],
        [("authorization", f"Basic {KEY_A}")],
        [("x-api-key-bin", KEY_A.encode())],
        [("x-api-key", hash_key(KEY_A))],  # the stored hash is not a key
    ],
)
def test_missing_or_invalid_keys_are_unauthenticated(keys_file: Path, metadata) -> None:
    auth = ApiKeyAuthenticator.from_file(keys_file)
    with pytest.raises(Unauthenticated) as caught:
        auth.authenticate(metadata)
    assert caught.value.status == "UNAUTHENTICATED"
    assert KEY_A not in str(caught.value)


def test_open_mode_without_keys() -> None:
    auth = ApiKeyAuthenticator.from_settings(load_settings({}).access)
    assert auth.is_open
    assert ApiKeyAuthenticator.from_settings(Settings().access).is_open
    assert auth.authenticate([]) == OPEN_KEY_NAME


def test_json_key_files_and_bad_entries(tmp_path: Path) -> None:
    good = tmp_path / "keys.json"
    good.write_text(json.dumps([{"name": "a", "sha256": hash_key("k")}]))
    assert ApiKeyAuthenticator.from_file(good).authenticate([("x-api-key", "k")]) == "a"

    with pytest.raises(InvalidArgument, match="sha256"):
        ApiKeyAuthenticator([ApiKey("a", "not-a-hash")])
    with pytest.raises(InvalidArgument, match="twice"):
        ApiKeyAuthenticator([ApiKey("a", hash_key("k")), ApiKey("b", hash_key("k"))])
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"keys:\n  - {{name: a, sha256: {hash_key('k')}, key: k}}\n")
    with pytest.raises(InvalidArgument, match="unknown"):
        ApiKeyAuthenticator.from_file(bad)
