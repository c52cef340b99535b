"""The in-process pipeline: size-or-time batches, waiting submitters, bounded queue."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping

import pytest

from processors.batching import BatchConfig
from processors.pipeline import Overloaded, Pipeline, PipelineConfig
from storage.errors import RetryableError
from storage.records import ObservationRecord
from tests.support.fakes import RecordingStep, raising


def _config(max_queued: int, max_batch: int, timeout_ms: int) -> PipelineConfig:
    return PipelineConfig(
        max_queued_records=max_queued,
        batch=BatchConfig(max_records=max_batch, timeout_ms=timeout_ms),
    )


def _records(n: int, prefix: str = "r") -> list[ObservationRecord]:
    return [ObservationRecord(id=f"{prefix}{i}") for i in range(n)]


def test_submit_returns_after_write_and_batches_by_size() -> None:
    async def scenario() -> RecordingStep:
        recorder = RecordingStep()
        pipeline = Pipeline(recorder, _config(100, 4, 5000))
        await pipeline.start()
        await asyncio.gather(*(pipeline.submit(_records(2, f"s{i}-")) for i in range(4)))
        await pipeline.stop()
        return recorder

    recorder = asyncio.run(scenario())
    assert [len(b) for b in recorder.written] == [4, 4]


def test_timeout_cuts_a_small_batch() -> None:
    async def scenario() -> tuple[RecordingStep, dict[str, int]]:
        recorder = RecordingStep()
        pipeline = Pipeline(recorder, _config(100, 50, 50))
        await pipeline.start()
        await asyncio.wait_for(pipeline.submit(_records(3)), 2)
        await pipeline.stop()
        return recorder, pipeline.stats.triggers

    recorder, triggers = asyncio.run(scenario())
    assert recorder.written == [["r0", "r1", "r2"]]
    assert triggers == {"timeout": 1}


def test_write_failure_reaches_every_waiting_submitter() -> None:
    async def scenario() -> list[Mapping[int, str] | BaseException]:
        pipeline = Pipeline(
            RecordingStep(fail=raising(RetryableError("clickhouse down"))), _config(10, 10, 10)
        )
        await pipeline.start()
        results = await asyncio.gather(
            pipeline.submit(_records(1, "a")),
            pipeline.submit(_records(1, "b")),
            return_exceptions=True,
        )
        await pipeline.stop()
        return list(results)

    results = asyncio.run(scenario())
    assert all(isinstance(r, RetryableError) for r in results)


def test_full_queue_refuses_with_overloaded() -> None:
    async def scenario() -> None:
        gate = threading.Event()
        pipeline = Pipeline(RecordingStep(gate=gate), _config(5, 5, 10))
        await pipeline.start()
        first = asyncio.create_task(pipeline.submit(_records(4)))
        await asyncio.sleep(0.05)
        assert pipeline.queued_records == 4
        assert pipeline.has_room(1) and not pipeline.has_room(2)
        with pytest.raises(Overloaded):
            await pipeline.submit(_records(2))
        gate.set()
        await first
        assert pipeline.queued_records == 0
        await pipeline.stop()
        with pytest.raises(Overloaded):
            await pipeline.submit(_records(1))

    asyncio.run(scenario())


def test_a_large_export_is_written_in_batches_of_at_most_max_records() -> None:
    """#15 item 5: one 17 MB export held the embedded writer for 56 s in one insert; its
    records are now written in batches of at most ``max_records`` (reads and other exports
    get the writer between them), and the export is answered once all are written."""

    async def scenario() -> tuple[RecordingStep, dict[int, str]]:
        recorder = RecordingStep()
        pipeline = Pipeline(recorder, _config(10_000, 4, 20))
        await pipeline.start()
        refused = await pipeline.submit(_records(10, "big-"))
        await pipeline.stop()
        return recorder, refused

    recorder, refused = asyncio.run(scenario())
    assert refused == {}
    assert [len(b) for b in recorder.written] == [4, 4, 2]
    assert [i for batch in recorder.written for i in batch] == [f"big-{i}" for i in range(10)]


def test_records_queued_during_a_write_do_not_wait_a_new_window() -> None:
    """#16 item 3: a batch's window counts from its first record's arrival (the collector's
    batch processor rule, ``processors.batching``), so records that arrived while the previous
    batch was being written go out as soon as that write ends once their window has passed,
    instead of waiting a whole new window."""

    async def scenario() -> tuple[float, RecordingStep]:
        loop = asyncio.get_running_loop()
        gate = threading.Event()
        recorder = RecordingStep(gate=gate)
        pipeline = Pipeline(recorder, _config(100, 50, 500))
        await pipeline.start()
        first = asyncio.create_task(pipeline.submit(_records(1, "a")))
        await asyncio.sleep(0.6)  # the first batch was cut at 0.5 s and is held in its write
        later = [asyncio.create_task(pipeline.submit(_records(1, f"b{i}-"))) for i in range(3)]
        await asyncio.sleep(0.6)  # their window passes while the write is held
        released = loop.time()
        gate.set()
        await asyncio.gather(first, *later)
        elapsed = loop.time() - released
        await pipeline.stop()
        return elapsed, recorder

    elapsed, recorder = asyncio.run(scenario())
    assert recorder.written == [["a0"], ["b0-0", "b1-0", "b2-0"]]
    assert elapsed < 0.3  # a new window would be 0.5 s
