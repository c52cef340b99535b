"""Usage estimation with the real tiktoken, offline (docs/reference/langfuse.md §4.4,
docs/reference/test-services.md §8)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
import tiktoken

from processors.enrich import Enricher
from processors.tokens import TiktokenCounter, bpe_cache_name, count_chat_messages
from processors.usage import count_payload, estimate_usage
from storage.records import ObservationRecord

RecordFactory = Callable[..., ObservationRecord]
REPO = Path(__file__).resolve().parents[2]

MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "name": "alice", "content": "What is the capital of France?"},
]


def o200k(text: str) -> int:
    return len(tiktoken.get_encoding("o200k_base").encode_ordinary(text))


def test_estimates_chat_messages_like_langfuse(
    enricher: Enricher, make_record: RecordFactory
) -> None:
    record = make_record(
        "gpt-4o", input=json.dumps(MESSAGES), output="The capital of France is Paris."
    )

    stats = enricher.enrich([record])

    expected_input = (
        3 + o200k("system") + o200k("You are a helpful assistant.")
        + 3 + o200k("user") + o200k("alice") + 1 + o200k("What is the capital of France?")
        + 3
    )  # fmt: skip
    expected_output = o200k("The capital of France is Paris.")
    assert 25 <= expected_input <= 40 and 5 <= expected_output <= 10  # plausible
    assert dict(record.usage_details) == {
        "input": expected_input,
        "output": expected_output,
        "total": expected_input + expected_output,
    }
    assert record.usage_estimated
    assert stats.estimated == 1
    assert stats.tokens[("estimated", "input")] == expected_input
    # the estimate is priced like reported usage
    assert Decimal(record.cost_details["input"]) == Decimal("0.0000025") * expected_input
    assert Decimal(record.cost_details["output"]) == Decimal("0.00001") * expected_output


def test_content_parts_and_tool_calls(token_counter: TiktokenCounter) -> None:
    tool_calls = [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
    messages: list[dict[str, object]] = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Describe this image."},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
            ],
        },
        {"role": "assistant", "content": None, "tool_calls": tool_calls},
        {"role": "tool", "parts": [{"type": "text", "content": "sunny"}]},  # GenAI semconv
    ]

    counted = count_chat_messages(token_counter, "gpt-4o", messages)

    expected = (
        3 + o200k("user") + o200k("Describe this image.")
        + 3 + o200k("assistant") + o200k(json.dumps(tool_calls, separators=(",", ":")))
        + 3 + o200k("tool") + o200k("sunny")
        + 3
    )  # fmt: skip
    assert counted == expected
    assert count_payload(token_counter, "gpt-4o", json.dumps(messages)) == expected


def test_payload_shapes(token_counter: TiktokenCounter) -> None:
    assert count_payload(token_counter, "gpt-4o", '"hello world"') == o200k("hello world")
    assert count_payload(token_counter, "gpt-4o", '{"query": "weather"}') == o200k(
        '{"query": "weather"}'
    )
    single = {"role": "assistant", "content": "Paris."}
    assert count_payload(token_counter, "gpt-4o", json.dumps(single)) == (
        3 + o200k("assistant") + o200k("Paris.") + 3
    )
    assert count_payload(token_counter, "gpt-4o", "[not json") == o200k("[not json")
    assert count_payload(token_counter, "gpt-4o", "") == 0


def test_model_families(token_counter: TiktokenCounter) -> None:
    text = "Counting tokens offline works."
    cl100k = len(tiktoken.get_encoding("cl100k_base").encode_ordinary(text))
    for model in ("gpt-4o", "openai/gpt-4o-2024-08-06", "GPT-4.1", "o1", "o3-mini", "o4-mini"):
        assert token_counter.count(model, text) == o200k(text), model
    for model in ("gpt-3.5-turbo", "gpt-4", "text-embedding-3-small"):
        assert token_counter.count(model, text) == cl100k, model
    for model in ("claude-3-5-sonnet-20241022", "gemini-2.0-flash", "text-davinci-003"):
        assert token_counter.count(model, text) is None, model
    assert token_counter.count("gpt-4o", "<|endoftext|>") == o200k("<|endoftext|>")


def test_not_estimated_for_error_level_provided_cost_or_other_models(
    enricher: Enricher, make_record: RecordFactory
) -> None:
    error = make_record("gpt-4o", input="hello", output="world", level="ERROR")
    with_cost = make_record("gpt-4o", cost={"total": "0.1"}, input="hello", output="world")
    claude = make_record("claude-3-5-sonnet-20241022", input="hello", output="world")
    no_model = make_record(None, input="hello", output="world")

    stats = enricher.enrich([error, with_cost, claude, no_model])

    for record in (error, with_cost, claude, no_model):
        assert len(record.usage_details) == 0
        assert not record.usage_estimated
    assert with_cost.total_cost == "0.1"
    assert len(error.cost_details) == 0
    assert stats.estimated == 0


def test_one_side_missing_is_left_out_not_zeroed(
    enricher: Enricher, make_record: RecordFactory
) -> None:
    only_input = make_record("gpt-4o", input="hello")
    nothing = make_record("gpt-4o")

    enricher.enrich([only_input, nothing])

    assert dict(only_input.usage_details) == {"input": o200k("hello"), "total": o200k("hello")}
    assert len(nothing.usage_details) == 0 and not nothing.usage_estimated


def test_too_long_text_is_not_counted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))  # restored after the test
    counter = TiktokenCounter(tmp_path, max_chars=10)

    assert counter.count("gpt-4o", "short") == 1
    assert counter.count("gpt-4o", "much longer than ten") is None
    assert estimate_usage(counter, "gpt-4o", "x" * 11, None) is None


def test_installs_bpe_files_into_a_fresh_cache_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "elsewhere"))
    cache = tmp_path / "fresh"
    counter = TiktokenCounter(cache)

    assert counter.count("gpt-4o", "hello world") == 2

    assert os.environ["TIKTOKEN_CACHE_DIR"] == str(cache)
    assert {p.name for p in cache.iterdir()} == {
        "fb374d419588a4632f3f557e76b4b70aebbca790",  # o200k_base
        "9b5ad71b2ce5302211f9c61530b329a4922fc6a4",  # cl100k_base
    }
    assert bpe_cache_name("o200k_base") == "fb374d419588a4632f3f557e76b4b70aebbca790"


def test_tiktoken_works_with_network_disabled(tmp_path: Path) -> None:
    """A fresh process, a fresh TIKTOKEN_CACHE_DIR and every socket connection refused."""
    script = textwrap.dedent(
        """
        import socket, sys
        from pathlib import Path

        def refuse(*args, **kwargs):
            raise OSError("network disabled for this test")

        socket.socket.connect = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse

        from processors.tokens import TiktokenCounter

        counter = TiktokenCounter(Path(sys.argv[1]))
        print(counter.count("gpt-4o", "hello world"), counter.count("gpt-3.5-turbo", "hello world"))
        """
    )
    fresh = tmp_path / "tiktoken"
    env = {**os.environ, "TIKTOKEN_CACHE_DIR": str(fresh)}
    result = subprocess.run(
        [sys.executable, "-c", script, str(fresh)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["2", "2"]


def test_unwritable_cache_dir_disables_estimation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache folder should be")
    counter = TiktokenCounter(blocker / "tiktoken")

    assert counter.count("gpt-4o", "hello") is None
    assert counter.count("gpt-4.1", "hello") is None
    assert estimate_usage(counter, "gpt-4o", "hello", "world") is None
    assert sum("cannot install tiktoken BPE files" in r.message for r in caplog.records) == 1
    assert os.environ["TIKTOKEN_CACHE_DIR"] == str(tmp_path)  # left alone
