"""The consumer group's lag, measured without joining the group (issue 15 item 6).

A processor's own view of lag (high watermark minus position, over the partitions it holds)
is empty while it holds no partitions: after a restart the group join takes seconds, during
which every processor would report 0 with records waiting. ``GroupLag`` measures what the
group as a whole has not committed yet, whoever holds the partitions:

    lag = Σ over every partition of the consumed topics of (high watermark − committed offset)

(a partition without a committed offset counts from its first offset, where the group starts
with ``auto_offset_reset="earliest"``). This is the definition of consumer lag used by Kafka's
own tooling (Apache Kafka documentation, "Monitoring": ``kafka-consumer-groups.sh --describe``
prints ``LAG = LOG-END-OFFSET − CURRENT-OFFSET``) and by KEDA's Kafka scaler.

Where the numbers come from:

- committed offsets: ``AIOKafkaConsumer.committed`` (an OffsetFetch request) on a consumer of
  the group that is manually assigned and never subscribes, so it never joins or disturbs the
  group (aiokafka ``docs/consumer.rst``, "Manual assignment"); the admin client's
  ``list_consumer_group_offsets`` cannot decode tansu's answer;
- high watermarks: from *fetch* responses (``AIOKafkaConsumer.highwater``), because
  ``ListOffsets(latest)`` (``end_offsets()``) is wrong on tansu, the test broker
  (docs/reference/test-services.md §1). Each measurement seeks every partition to its committed
  offset, lets one fetch per partition come back (``last_poll_timestamp``), and pauses the
  partitions again, so between measurements the probe fetches nothing (a caught-up partition
  answers after ``fetch_max_wait_ms``, 50 ms here). Fetches ask for one byte
  per partition (``max_partition_fetch_bytes=1``); a broker still returns the first record batch
  (KIP-74), which is dropped at the next seek.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

__all__ = ["GroupLag"]

_POLL_S = 0.02
"""How often a measurement checks whether every partition's fetch came back (seconds)."""
_FETCH_WAIT_MS = 50
"""How long the broker holds a fetch of a partition with nothing new (``fetch.max.wait.ms``):
a caught-up partition answers after this long."""


class GroupLag:
    """Measures one consumer group's lag over ``topics`` (see the module docstring).

    Args:
        bootstrap_servers: ``host:port[,…]`` of the cluster.
        group_id: the group whose committed offsets are read (it is never joined).
        topics: topics whose partitions count; a topic that does not exist counts 0.
        client_id: Kafka client id of the probe consumer.

    Usage::

        probe = GroupLag(servers, "otelfuse-processor", ["otelfuse.observations"], "p-lag")
        await probe.start()
        records = await probe.measure(timeout_s=5)   # int ≥ 0, or None if it could not tell
        await probe.stop()
    """

    def __init__(
        self, bootstrap_servers: str, group_id: str, topics: Sequence[str], client_id: str
    ) -> None:
        self._topics = [t for t in topics if t]
        self._consumer: Any = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            group_id=group_id,
            client_id=client_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=1,
            fetch_max_wait_ms=_FETCH_WAIT_MS,
        )
        self._partitions: frozenset[TopicPartition] = frozenset()
        self.started = False

    async def start(self) -> None:
        """Connect; ``started`` is True afterwards.

        Raises:
            aiokafka.errors.KafkaError: the cluster cannot be reached (call ``start()`` again).
        """
        try:
            await self._consumer.start()
        except BaseException:
            await self._consumer.stop()
            raise
        self.started = True

    async def stop(self) -> None:
        """Disconnect; safe twice and without ``start()``."""
        await self._consumer.stop()

    async def measure(self, timeout_s: float) -> int | None:
        """The group's lag in records now; ``None`` when a fetch did not come back in time.

        Raises:
            aiokafka.errors.KafkaError: metadata or committed offsets could not be read.
        """
        consumer = self._consumer
        partitions = await self._assign()
        if not partitions:
            return 0
        committed = {tp: await consumer.committed(tp) for tp in partitions}
        asked_ms = int(time.time() * 1000)
        for tp, offset in committed.items():
            if offset is None:
                await consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, offset)
        consumer.resume(*partitions)
        try:
            deadline = time.monotonic() + timeout_s
            while not all((consumer.last_poll_timestamp(tp) or 0) >= asked_ms for tp in partitions):
                if time.monotonic() > deadline:
                    return None
                await asyncio.sleep(_POLL_S)
            lag = 0
            for tp in partitions:
                start = committed[tp]
                if start is None:
                    start = await consumer.position(tp)
                lag += max(0, consumer.highwater(tp) - start)
            return lag
        finally:
            consumer.pause(*partitions)

    async def _assign(self) -> frozenset[TopicPartition]:
        """Every partition of the topics (from fresh metadata), assigned to the probe."""
        await self._consumer.topics()  # refreshes the cluster metadata
        partitions = frozenset(
            TopicPartition(topic, p)
            for topic in self._topics
            for p in self._consumer.partitions_for_topic(topic) or ()
        )
        if partitions != self._partitions:
            self._consumer.assign(list(partitions))
            self._consumer.pause(*partitions)
            self._partitions = partitions
        return partitions
