"""Langfuse prompt JSON: validation of request bodies on the way in, the ``Prompt`` and
``PromptMeta`` shapes on the way out.

Input (langfuse/langfuse ``fern/apis/server/definition/prompts.yml`` ``CreatePromptRequest``,
``prompt-version.yml`` ``UpdatePromptRequest``; the rules are Langfuse's zod schemas,
``packages/shared/src/features/prompts/{types,validation,constants}.ts``)::

    POST  {"name", "type"?: "text" (default) | "chat", "prompt": str | [message],
           "labels"?: [label], "tags"?: [str] | null, "config"?: any, "commitMessage"?: str | null}
          message: {"role": str, "content": str} | {"type": "placeholder", "name": identifier}
    PATCH {"newLabels": [label]}

- ``name``: 1..255 characters, no HTML tag, no ``|`` (prompt composition), no leading or
  trailing ``/`` and no ``//`` (folders), not ``new``; surrounding blanks are trimmed;
- a label: 1..36 characters of ``[a-z0-9_.-]``; ``latest`` is given by the server and cannot be
  set with PATCH;
- ``commitMessage``: at most 500 characters; ``config``: any JSON (``null`` means ``{}``);
- a chat prompt's ``{{variables}}`` and placeholder names must differ.

Bodies are decoded with ``msgspec`` into the request models below; any violation raises
``InvalidPrompt`` (``BadRequest``, answered 400) naming the field.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from storage.errors import BadRequest
from storage.nesting import MAX_DEPTH, deeper_than
from storage.postgres.jsonb import unservable_number
from storage.query import schemas

__all__ = [
    "LABEL_PATTERN",
    "LATEST",
    "PRODUCTION",
    "InvalidPrompt",
    "PromptDefinition",
    "PromptMetaRow",
    "StoredPrompt",
    "check_name",
    "parse_new_labels",
    "parse_prompt_definition",
    "prompt_json",
    "prompt_meta_json",
]

LATEST = "latest"
"""The label of a prompt's newest version (Langfuse ``LATEST_PROMPT_LABEL``)."""
PRODUCTION = "production"
"""The label served when a GET names neither version nor label (``PRODUCTION_LABEL``)."""
LABEL_PATTERN = r"^[a-z0-9_\-.]+$"
NAME_MAX = 255
_LABEL_MAX = 36
_COMMIT_MAX = 500
_RESERVED_NAMES = ("new",)
_HTML = re.compile(r"<[^>]*>")
_PLACEHOLDER_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9_]*$")
_VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")

Label = Annotated[str, Meta(min_length=1, max_length=_LABEL_MAX, pattern=LABEL_PATTERN)]


class InvalidPrompt(BadRequest):
    """The body is not a valid prompt request; the message names the field and the reason."""


class _Message(msgspec.Struct, kw_only=True):
    """A chat message or a placeholder as sent (checked by ``_message``)."""

    role: str | UnsetType = UNSET
    content: str | UnsetType = UNSET
    type: str | UnsetType = UNSET
    name: str | UnsetType = UNSET


class _CreateBody(msgspec.Struct, rename="camel", kw_only=True):
    name: str
    prompt: str | list[_Message]
    type: Literal["text", "chat"] | None = None
    labels: list[Label] = msgspec.field(default_factory=list)
    tags: list[str] | None = None
    config: Any = None
    commit_message: Annotated[str, Meta(max_length=_COMMIT_MAX)] | None = None


class _UpdateBody(msgspec.Struct, rename="camel", kw_only=True):
    new_labels: list[Label]


@dataclass(frozen=True, slots=True)
class PromptDefinition:
    """A validated prompt version to store.

    ``prompt`` is a string (text) or a list of ``{"role", "content"}`` /
    ``{"type": "placeholder", "name"}`` dicts (chat); ``tags`` None keeps the prompt's tags.
    """

    name: str
    type: str
    prompt: str | list[dict[str, str]]
    labels: tuple[str, ...] = ()
    tags: tuple[str, ...] | None = None
    config: Any = None
    commit_message: str | None = None


@dataclass(frozen=True, slots=True)
class StoredPrompt:
    """One stored prompt version (a ``prompts`` row)."""

    id: str
    project_id: str
    name: str
    version: int
    type: str
    prompt: Any
    config: Any
    labels: tuple[str, ...]
    tags: tuple[str, ...]
    commit_message: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class PromptMetaRow:
    """One name of the prompt list: its matching versions (ascending), their labels (sorted),
    the tags, type and config of the newest matching version and the latest ``updated_at``."""

    name: str
    type: str
    versions: tuple[int, ...]
    labels: tuple[str, ...]
    tags: tuple[str, ...]
    last_updated_at: datetime
    last_config: Any


def _decode(body: bytes, model: type[Any]) -> Any:
    try:
        return msgspec.json.decode(body, type=model)
    except msgspec.ValidationError as exc:
        raise InvalidPrompt(f"invalid prompt request: {exc}") from None
    except msgspec.DecodeError as exc:
        raise InvalidPrompt(f"body is not valid JSON: {exc}") from None
    except RecursionError:
        raise InvalidPrompt(f"body is nested deeper than {MAX_DEPTH} levels") from None


def check_name(raw: str) -> str:
    """``raw`` trimmed, when it is a valid prompt name (``PromptNameSchema``).

    Raises:
        InvalidPrompt: empty, too long, an HTML tag, ``|``, misplaced ``/``, NUL, reserved.
    """
    problems = (
        (not raw, "cannot be empty"),
        (len(raw) > NAME_MAX, f"must be at most {NAME_MAX} characters"),
        (bool(_HTML.search(raw)), "cannot contain HTML tags"),
        ("|" in raw, "cannot contain '|' character"),
        ("\x00" in raw, "cannot contain NUL"),
        (raw.startswith("/"), "cannot start with a slash"),
        ("//" in raw, "cannot contain consecutive slashes"),
        (raw.endswith("/"), "cannot end with a slash"),
    )
    for failed, reason in problems:
        if failed:
            raise InvalidPrompt(f"Prompt name {reason}")
    name = raw.strip()
    if not name:
        raise InvalidPrompt("Prompt name cannot be empty")
    if name in _RESERVED_NAMES:
        raise InvalidPrompt(f"Prompt name cannot be '{name}'")
    return name


def _message(index: int, message: _Message) -> dict[str, str]:
    where = f"prompt[{index}]"
    if isinstance(message.role, str) and isinstance(message.content, str):
        return {"role": message.role, "content": message.content}
    if message.type == "placeholder":
        if not isinstance(message.name, str) or not _PLACEHOLDER_NAME.match(message.name):
            raise InvalidPrompt(
                f"{where}: Placeholder name must start with a letter and contain only"
                " alphanumeric characters and underscores"
            )
        return {"type": "placeholder", "name": message.name}
    raise InvalidPrompt(
        f'{where} must be {{"role", "content"}} (strings) or {{"type": "placeholder", "name"}}'
    )


def _check_chat_names(messages: Sequence[dict[str, str]]) -> None:
    placeholders = {m["name"] for m in messages if m.get("type") == "placeholder"}
    variables = {v for m in messages for v in _VARIABLE.findall(m.get("content", ""))}
    clash = sorted(placeholders & variables)
    if clash:
        raise InvalidPrompt(
            "Cannot create prompt, variables and placeholders must be unique, the following"
            f" are not: {', '.join(clash)}"
        )


def parse_prompt_definition(body: bytes) -> PromptDefinition:
    """The ``POST /api/public/v2/prompts`` body as a ``PromptDefinition`` (module docstring).

    Raises:
        InvalidPrompt: not JSON, a field of the wrong type, or a rule above is broken.
    """
    request: _CreateBody = _decode(body, _CreateBody)
    name = check_name(request.name)
    kind = request.type or "text"
    prompt: str | list[dict[str, str]]
    if kind == "chat":
        if not isinstance(request.prompt, list):
            raise InvalidPrompt("a chat prompt must be a list of messages")
        prompt = [_message(i, m) for i, m in enumerate(request.prompt)]
        _check_chat_names(prompt)
    else:
        if not isinstance(request.prompt, str):
            raise InvalidPrompt('a text prompt must be a string (send "type": "chat" for messages)')
        prompt = request.prompt
    _check_values(prompt, request.tags, request.commit_message, request.config)
    return PromptDefinition(
        name=name,
        type=kind,
        prompt=prompt,
        labels=tuple(dict.fromkeys(request.labels)),
        tags=tuple(dict.fromkeys(request.tags)) if request.tags is not None else None,
        config=request.config if request.config is not None else {},
        commit_message=request.commit_message,
    )


def _check_values(prompt: Any, tags: Any, commit_message: Any, config: Any) -> None:
    """Refuse, with a reason, what could be stored but not served back: U+0000 (PostgreSQL
    text and jsonb cannot hold it), a config nested deeper than the nesting policy
    (``storage.nesting``) or holding a number ``jsonb`` cannot give back as sent
    (``storage.postgres.pool.unservable_number``: beyond a double or 64-bit integers)."""
    if deeper_than(config):
        raise InvalidPrompt(f"config is nested deeper than {MAX_DEPTH} levels")
    number = unservable_number(config)
    if number is not None:
        raise InvalidPrompt(
            f"config numbers must fit in 64-bit integers or be finite doubles, not {number:.6g}"
        )
    stack: list[Any] = [prompt, tags, commit_message, config]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                raise InvalidPrompt("prompt, tags, commitMessage and config cannot contain NUL")
        elif isinstance(value, dict):
            stack.extend(value)
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)


def parse_new_labels(body: bytes) -> tuple[str, ...]:
    """The ``newLabels`` of a ``PATCH .../versions/{version}`` body, deduplicated.

    Raises:
        InvalidPrompt: not JSON, not a label list, or ``latest`` among them.
    """
    request: _UpdateBody = _decode(body, _UpdateBody)
    if LATEST in request.new_labels:
        raise InvalidPrompt("Label 'latest' is always assigned to the latest prompt version")
    return tuple(dict.fromkeys(request.new_labels))


def prompt_json(row: StoredPrompt) -> dict[str, Any]:
    """Langfuse's ``Prompt`` JSON of ``row`` (``createdBy`` is ``API``: every prompt is created
    through the API)."""
    return schemas.as_json(
        schemas.Prompt(
            id=row.id,
            created_at=_iso(row.created_at),
            updated_at=_iso(row.updated_at),
            project_id=row.project_id,
            created_by="API",
            name=row.name,
            version=row.version,
            type="chat" if row.type == "chat" else "text",
            prompt=row.prompt,
            config=row.config,
            labels=list(row.labels),
            tags=list(row.tags),
            commit_message=row.commit_message,
            resolution_graph=None,
        )
    )


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def prompt_meta_json(row: PromptMetaRow) -> dict[str, Any]:
    """Langfuse's ``PromptMeta`` JSON of ``row``."""
    return schemas.as_json(
        schemas.PromptMeta(
            name=row.name,
            type="chat" if row.type == "chat" else "text",
            versions=list(row.versions),
            labels=list(row.labels),
            tags=list(row.tags),
            last_updated_at=_iso(row.last_updated_at),
            last_config=row.last_config,
        )
    )
