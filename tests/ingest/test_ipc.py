"""The worker→owner hand-off (``ingest.ipc``) over a real Unix socket: the worker's
``OwnerChannel`` answers only after the owner's ``Pipeline`` wrote the records, and every
outcome of the owner's sinks comes back as the same error class."""

from __future__ import annotations

import asyncio
import tempfile
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from ingest.ipc import OwnerChannel, serve_owner_channel
from ingest.sinks import RecordSink, ScoreSink
from processors.batching import BatchConfig
from processors.pipeline import Overloaded, Pipeline, PipelineConfig
from storage.errors import PermanentError, RetryableError
from storage.records import ObservationRecord, ScoreRecord
from tests.support.fakes import RecordingSink, RecordingStep


def _records(*ids: str) -> list[ObservationRecord]:
    return [ObservationRecord(id=i, project_id="p", trace_id="t", name=i) for i in ids]


async def _connected(
    records: RecordSink,
    scores: ScoreSink,
    scenario: Callable[[OwnerChannel, list[int]], Awaitable[None]],
) -> list[int]:
    """Serve the owner side on a fresh socket, run ``scenario`` with a connected channel;
    returns the worker indexes that said hello."""
    hellos: list[int] = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "records.sock"

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await serve_owner_channel(reader, writer, records, scores, hellos.append)

        server = await asyncio.start_unix_server(handle, path=str(path))
        channel = OwnerChannel(path)
        await channel.connect()
        try:
            await scenario(channel, hellos)
        finally:
            await channel.close()
            server.close()
    return hellos


def test_submit_returns_after_the_pipeline_wrote_the_records() -> None:
    step = RecordingStep()
    scores = RecordingSink()

    async def scenario(channel: OwnerChannel, hellos: list[int]) -> None:
        await channel.hello(3)
        assert hellos == [3]
        results = await asyncio.gather(
            channel.submit(_records("a", "b", "c")), channel.submit(_records("d"))
        )
        assert list(results) == [{}, {}]
        assert sorted(step.ids) == ["a", "b", "c", "d"]  # written before the answers came
        score = ScoreRecord(id="s1", project_id="p", name="accuracy")
        assert await channel.submit_scores([score]) == {}
        assert [s.id for s in scores.scores] == ["s1"]
        assert channel.has_room()

    async def main() -> None:
        pipeline = Pipeline(step, PipelineConfig(batch=BatchConfig(max_records=2)))
        await pipeline.start()
        await _connected(pipeline, scores, scenario)
        await pipeline.stop()

    asyncio.run(main())


def test_owner_errors_come_back_as_the_same_classes() -> None:
    async def scenario(channel: OwnerChannel, hellos: list[int]) -> None:
        with pytest.raises(PermanentError, match="poison"):
            await channel.submit(_records("a"))
        with pytest.raises(PermanentError, match="poison"):
            await channel.submit_scores([ScoreRecord(id="s", project_id="p", name="n")])

    poison = RecordingSink(PermanentError("poison"))
    asyncio.run(_connected(poison, poison, scenario))

    async def retry(channel: OwnerChannel, hellos: list[int]) -> None:
        with pytest.raises(RetryableError, match="storage down") as caught:
            await channel.submit(_records("a"))
        assert not isinstance(caught.value, Overloaded)
        assert caught.value.retry_after_s == 7.0

    down = RetryableError("storage down", retry_after_s=7.0)
    asyncio.run(_connected(RecordingSink(down), RecordingSink(), retry))


def test_a_full_owner_queue_is_overloaded_and_refuses_before_decoding() -> None:
    gate = threading.Event()
    step = RecordingStep(gate=gate)

    async def scenario(channel: OwnerChannel, hellos: list[int]) -> None:
        first = asyncio.create_task(channel.submit(_records("a")))
        await asyncio.sleep(0.1)
        with pytest.raises(Overloaded):
            await channel.submit(_records("b"))
        assert not channel.has_room()  # the worker refuses at admission for a while
        gate.set()
        assert await first == {}

    async def main() -> None:
        config = PipelineConfig(max_queued_records=1, batch=BatchConfig(max_records=1))
        pipeline = Pipeline(step, config)
        await pipeline.start()
        await _connected(pipeline, RecordingSink(), scenario)
        await pipeline.stop()

    asyncio.run(main())
    assert step.ids == ["a"]


def test_a_lost_owner_fails_the_calls_in_flight_as_retryable() -> None:
    async def scenario() -> None:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "records.sock"
            accepted: list[asyncio.StreamWriter] = []

            async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                accepted.append(writer)  # reads nothing, answers nothing

            server = await asyncio.start_unix_server(handle, path=str(path))
            channel = OwnerChannel(path)
            await channel.connect()
            call = asyncio.create_task(channel.submit(_records("a")))
            await asyncio.sleep(0.1)
            accepted[0].close()  # the owner dies
            with pytest.raises(RetryableError, match="lost"):
                await call
            await asyncio.wait_for(channel.closed.wait(), 5)
            assert not channel.has_room()
            with pytest.raises(RetryableError):
                await channel.submit(_records("b"))
            await channel.close()
            server.close()

    asyncio.run(scenario())
