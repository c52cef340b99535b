"""Basic-auth parsing, secret hashing and the all-in-one project bootstrap."""

from __future__ import annotations

import json
from pathlib import Path

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
from storage.projects import InitProject, bootstrap_project
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


def test_bootstrap_generates_once_and_keeps_only_the_hash(tmp_path: Path) -> None:
    created = bootstrap_project(tmp_path, InitProject())
    assert created.new_secret_key is not None
    stored = json.loads((tmp_path / "project.json").read_text())
    assert created.new_secret_key not in json.dumps(stored)
    assert (tmp_path / "project.json").stat().st_mode & 0o777 == 0o600

    again = bootstrap_project(tmp_path, InitProject())
    assert again.new_secret_key is None and again.project == created.project
    assert again.keys.verify(created.public_key, created.new_secret_key) == created.project


def test_bootstrap_from_settings_and_partial_settings(tmp_path: Path) -> None:
    boot = bootstrap_project(tmp_path, InitProject("proj-x", "pk-x", "sk-x"))
    assert boot.keys.verify("pk-x", "sk-x") == Project("proj-x", "proj-x")
    assert not (tmp_path / "project.json").exists()
    with pytest.raises(ValueError, match="OTELFUSE_INIT_PROJECT_ID"):
        bootstrap_project(tmp_path, InitProject("proj-x", "pk-x", ""))
