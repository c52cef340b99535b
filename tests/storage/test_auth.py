"""Basic-auth parsing, secret hashing, and the initial-project settings."""

from __future__ import annotations

import pytest

from storage.auth import (
    Project,
    StaticKeyStore,
    Unauthenticated,
    authenticate,
    hash_secret,
    parse_basic_authorization,
    verify_secret,
)
from storage.postgres.config import InitProject
from tests.support.service import basic_auth


def test_parse_basic_authorization() -> None:
    assert parse_basic_authorization(basic_auth("pk", "sk:with:colons")) == ("pk", "sk:with:colons")
    for bad in (None, "", "Bearer x", "Basic !!!", "Basic " + "cGs=", "Basic " + "OnNr"):
        with pytest.raises(Unauthenticated):
            parse_basic_authorization(bad)


def test_hash_is_salted_and_verifies_in_constant_time() -> None:
    first, second = hash_secret("sk-1"), hash_secret("sk-1")
    assert first != second and "sk-1" not in first
    assert verify_secret("sk-1", first) and verify_secret("sk-1", second)
    assert not verify_secret("sk-2", first)
    assert not verify_secret("sk-1", "md5$00$00")


def test_authenticate_resolves_project() -> None:
    store = StaticKeyStore([("pk", hash_secret("sk"), Project("p1"))])
    assert authenticate(store, basic_auth("pk", "sk")) == Project("p1")
    with pytest.raises(Unauthenticated, match="invalid API key pair"):
        authenticate(store, basic_auth("pk", "nope"))
    with pytest.raises(Unauthenticated):
        authenticate(store, basic_auth("other", "sk"))


def test_init_project_settings_never_show_the_secret() -> None:
    init = InitProject("proj-x", "pk-x", "sk-x-secret")
    assert "sk-x-secret" not in repr(init) and "pk-x" in repr(init)
