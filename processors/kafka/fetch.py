"""One stoppable fetch from a Kafka consumer, shared by the record consumer
(``processors.kafka.consumer``) and the archiver (``processors.kafka.archiver``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

__all__ = ["fetch_until_stopped"]


async def fetch_until_stopped(
    consumer: AIOKafkaConsumer, stopping: asyncio.Event, *, timeout_ms: int, max_records: int
) -> Mapping[TopicPartition, list[Any]]:
    """``consumer.getmany(timeout_ms=timeout_ms, max_records=max_records)`` (aiokafka), or ``{}``
    as soon as ``stopping`` is set.

    ``getmany`` waits without a timeout while a rebalance is in progress; stopping must not wait
    for that. Records a cancelled fetch had drained are not returned, so never committed: the
    group delivers them again.

    Raises:
        KafkaError: from ``getmany``.
    """
    getter = asyncio.ensure_future(consumer.getmany(timeout_ms=timeout_ms, max_records=max_records))
    stopper = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
        if not getter.done():
            getter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await getter
    if getter.cancelled():
        return {}
    fetched: Mapping[TopicPartition, list[Any]] = getter.result()
    return fetched
