"""``otelfuse projects|keys|models`` and ``otelfuse migrate`` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.postgres import cli_env
from tests.support.service import otelfuse_cli

pytestmark = pytest.mark.service  # starts external processes (make test-fast skips it)


def test_admin_commands_end_to_end(pg_url: str, tmp_path: Path) -> None:
    env = cli_env(pg_url, tmp_path / "data")

    unmigrated = otelfuse_cli(["projects", "list"], env, check=False)
    assert unmigrated.returncode == 1 and "otelfuse migrate" in unmigrated.stderr
    migrate = otelfuse_cli(["migrate"], env)
    assert "postgres:0001_metadata" in migrate.stderr

    created = otelfuse_cli(["projects", "create", "--name", "Team A", "--id", "proj-a"], env)
    assert "Created project proj-a" in created.stdout
    dup = otelfuse_cli(["projects", "create", "--name", "x", "--id", "proj-a"], env, check=False)
    assert dup.returncode == 1 and "already exists" in dup.stderr

    key = otelfuse_cli(["keys", "create", "--project", "proj-a"], env)
    lines = dict(line.strip().split("=", 1) for line in key.stdout.splitlines() if "=" in line)
    public, secret = lines["LANGFUSE_PUBLIC_KEY"], lines["LANGFUSE_SECRET_KEY"]
    assert secret.startswith("sk-lf-") and key.stdout.count(secret) == 1
    missing = otelfuse_cli(["keys", "create", "--project", "nope"], env, check=False)
    assert missing.returncode == 1 and "does not exist" in missing.stderr

    listed = otelfuse_cli(["keys", "list", "--project", "proj-a", "--json"], env)
    assert secret not in listed.stdout + listed.stderr
    (entry,) = json.loads(listed.stdout)
    assert entry["publicKey"] == public and entry["displaySecretKey"] == secret[:10] + "..."
    assert otelfuse_cli(["keys", "revoke", public], env).returncode == 0
    again = otelfuse_cli(["keys", "revoke", public], env, check=False)
    assert again.returncode == 1
    (entry,) = json.loads(
        otelfuse_cli(["keys", "list", "--project", "proj-a", "--json"], env).stdout
    )
    assert entry["revokedAt"] is not None

    definitions = [
        {"modelName": "acme-chat", "matchPattern": "(?i)^acme-chat$", "inputPrice": 0.001},
        {
            "modelName": "acme-big",
            "matchPattern": "^acme-big$",
            "startDate": "2025-01-01",
            "pricingTiers": [
                {
                    "name": "Standard",
                    "isDefault": True,
                    "priority": 0,
                    "conditions": [],
                    "prices": {"input": 1e-6},
                }
            ],
        },
    ]
    path = tmp_path / "models.json"
    path.write_text(json.dumps(definitions))
    upsert = otelfuse_cli(["models", "upsert", "--file", str(path), "--project", "proj-a"], env)
    assert upsert.stdout.count("Created model") == 2
    again = otelfuse_cli(["models", "upsert", "--file", str(path), "--project", "proj-a"], env)
    assert again.stdout.count("Updated model") == 2
    path.write_text(
        json.dumps({"modelName": "acme-global", "matchPattern": "^acme$", "totalPrice": 1})
    )
    otelfuse_cli(["models", "upsert", "--file", str(path)], env)  # global
    models = json.loads(
        otelfuse_cli(["models", "list", "--project", "proj-a", "--json"], env).stdout
    )
    assert [(m["modelName"], m["projectId"]) for m in models] == [
        ("acme-big", "proj-a"),
        ("acme-chat", "proj-a"),
        ("acme-global", None),
    ]
    glob = json.loads(otelfuse_cli(["models", "list", "--json"], env).stdout)
    assert [m["modelName"] for m in glob] == ["acme-global"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"modelName": "x", "matchPattern": "(unclosed"}))
    refused = otelfuse_cli(["models", "upsert", "--file", str(bad)], env, check=False)
    assert refused.returncode == 1 and "regular expression" in refused.stderr
    wrong_project = otelfuse_cli(
        ["models", "delete", glob[0]["id"], "--project", "proj-a"], env, check=False
    )
    assert wrong_project.returncode == 1
    assert otelfuse_cli(["models", "delete", glob[0]["id"]], env).returncode == 0
