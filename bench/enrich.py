"""Throughput of ``Enricher.enrich`` on 10,000 generation records (not a test; run directly).

    .venv/bin/python -m bench.enrich

Scenarios: reported usage over a mix of catalog models (the common case), the same with
provided costs, unknown models, and tokenizer estimation of chat payloads (the rare, costly path).
Each scenario enriches fresh copies of the records; the first (cold-cache) pass is reported apart.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from processors.enrich import default_enricher
from storage.records import ObservationRecord

N = 10_000
START_US = 1_751_371_200_000_000

MODELS = [
    ("gpt-4o", {"input": 1200, "output": 350}),
    ("gpt-4o-mini", {"input": 900, "input_cached_tokens": 1024, "output": 120}),
    ("claude-sonnet-4-5-20250929", {"input": 3000, "input_cached_tokens": 20000, "output": 800}),
    ("claude-3-5-haiku-20241022", {"input": 500, "input_cache_creation": 2000, "output": 90}),
    ("gemini-2.5-pro", {"input": 12000, "output": 700, "output_reasoning_tokens": 1500}),
    ("gemini-2.0-flash", {"input": 800, "output": 200}),
    ("o3-mini", {"input": 700, "output": 100, "output_reasoning_tokens": 640}),
    ("text-embedding-3-small", {"input": 300}),
]
CHAT = json.dumps(
    [
        {"role": "system", "content": "You are a concise assistant that answers in English."},
        {"role": "user", "content": "Summarise the plot of Hamlet in three sentences. " * 4},
    ]
)
ANSWER = "Prince Hamlet seeks revenge for his father's murder by his uncle Claudius. " * 3


def record(i: int, model: str, usage: dict[str, int]) -> ObservationRecord:
    r = ObservationRecord(
        project_id="bench",
        id=f"{i:016x}",
        trace_id=f"{i:032x}",
        type="GENERATION",
        name="chat",
        environment="default",
        start_time_us=START_US + i,
        level="DEFAULT",
        provided_model_name=model,
        model_parameters='{"temperature": 0.2, "max_tokens": 512}',
    )
    r.provided_usage_details.update(usage)
    return r


def reported(i: int) -> ObservationRecord:
    model, usage = MODELS[i % len(MODELS)]
    return record(i, model, usage)


def provided_cost(i: int) -> ObservationRecord:
    r = reported(i)
    r.provided_cost_details.update({"input": "0.0012", "output": "0.0035"})
    return r


def unknown(i: int) -> ObservationRecord:
    return record(i, f"private-model-{i % 50}", {"input": 100, "output": 20})


def estimated(i: int) -> ObservationRecord:
    r = record(i, "gpt-4o" if i % 2 else "gpt-4.1-mini", {})
    r.input = CHAT
    r.output = ANSWER
    return r


def main() -> None:
    with tempfile.TemporaryDirectory() as cache:
        enricher = default_enricher(Path(cache))
        scenarios: list[tuple[str, Callable[[int], ObservationRecord]]] = [
            ("reported usage, 8 catalog models", reported),
            ("provided cost", provided_cost),
            ("unknown models", unknown),
            ("estimated (tiktoken, chat JSON)", estimated),
        ]
        for name, make in scenarios:
            template = [make(i) for i in range(N)]
            timings = []
            for _ in range(6):
                batch = [ObservationRecord() for _ in range(N)]
                for copy, original in zip(batch, template, strict=True):
                    copy.CopyFrom(original)
                started = time.perf_counter()
                stats = enricher.enrich(batch)
                timings.append(time.perf_counter() - started)
            cold, warm = timings[0], statistics.median(timings[1:])
            print(
                f"{name:36} cold {N / cold:>9,.0f} rec/s   warm {N / warm:>9,.0f} rec/s "
                f"({warm / N * 1e6:5.1f} µs/rec)   priced={stats.priced} "
                f"estimated={stats.estimated} unpriced={stats.unpriced} cost=${stats.total_cost}"
            )


if __name__ == "__main__":
    main()
