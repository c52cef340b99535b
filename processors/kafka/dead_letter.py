"""Dead-letter queue: Kafka messages that can never be processed, parked with the reason.

A message is dead-lettered when it fails *permanently* (``storage.errors.PermanentError``): its
value is not an ``ObservationBatch`` (a ``ScoreBatch`` on the scores topic: poison), or the
process step refused its records for good (e.g. ClickHouse rejected a row). The original key,
value and headers are produced unchanged to the dead-letter topic, plus these headers (UTF-8
values):

==============================  ==========================================================
``otelfuse-error``              the error message (at most ``MAX_ERROR_BYTES`` bytes)
``otelfuse-error-class``        the exception class, ``module.QualName``
``otelfuse-source-topic``       topic the message came from
``otelfuse-source-partition``   its partition, decimal
``otelfuse-source-offset``      its offset, decimal
==============================  ==========================================================

so an operator can inspect it and replay it (produce the value back to the source topic) after a
fix. The processor commits the source offset only after the dead-letter broker acknowledged the
copy (``acks="all"``); a failed dead-letter write raises ``RetryableError`` and the batch is
retried, so nothing is dropped silently (docs/architecture.md "Guarantees and how they are met",
docs/reference/style.md §4.7).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from processors.kafka.config import DEFAULT_CLIENT_ID
from storage.errors import RetryableError

__all__ = [
    "DEFAULT_DEAD_LETTER_CLIENT_ID",
    "DEFAULT_REQUEST_TIMEOUT_MS",
    "MAX_ERROR_BYTES",
    "MAX_REQUEST_BYTES",
    "DeadLetter",
    "DeadLetterQueue",
    "dead_letter_headers",
]

log = logging.getLogger(__name__)

DEFAULT_DEAD_LETTER_CLIENT_ID = f"{DEFAULT_CLIENT_ID}-dlq"
"""Kafka client id of the dead-letter producer."""

DEFAULT_REQUEST_TIMEOUT_MS = 30_000
"""Milliseconds after which an unacknowledged dead-letter send fails (retryably)."""

MAX_ERROR_BYTES = 2_048
"""Longest ``otelfuse-error`` header value, in bytes (longer messages are cut)."""

MAX_REQUEST_BYTES = 2 * 1024 * 1024
"""Producer request limit: a source message at the broker's size limit plus the error headers
must still fit. Create the dead-letter topic with ``max.message.bytes`` at least 16 KiB above
the source topic's, or a dead-letter write of such a message fails (retryably, forever)."""

ERROR_HEADERS = frozenset(
    {
        "otelfuse-error",
        "otelfuse-error-class",
        "otelfuse-source-topic",
        "otelfuse-source-partition",
        "otelfuse-source-offset",
    }
)
"""Header names this module sets; copies of them in the original headers are replaced."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One message to park: where it came from, its original bytes and why it failed."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]
    error: BaseException


def dead_letter_headers(letter: DeadLetter) -> list[tuple[str, bytes]]:
    """The original headers (minus stale ``otelfuse-*`` error headers) plus the error headers."""
    error = type(letter.error)
    text = str(letter.error) or error.__name__
    message = text.encode()[:MAX_ERROR_BYTES].decode(errors="ignore")  # never cut a character
    kept = [(name, value) for name, value in letter.headers if name not in ERROR_HEADERS]
    return [
        *kept,
        ("otelfuse-error", message.encode()),
        ("otelfuse-error-class", f"{error.__module__}.{error.__qualname__}".encode()),
        ("otelfuse-source-topic", letter.topic.encode()),
        ("otelfuse-source-partition", str(letter.partition).encode()),
        ("otelfuse-source-offset", str(letter.offset).encode()),
    ]


class DeadLetterQueue:
    """Produces ``DeadLetter`` s to ``topic`` with ``acks="all"``.

    Args:
        bootstrap_servers: ``host:port[,host:port…]`` of the Kafka cluster.
        topic: the dead-letter topic; it must exist (create it with the source topic).
        client_id: Kafka client id of the producer.
        request_timeout_ms: a send not acknowledged within this time fails (retryable).

    Idempotence stays off (aiokafka's default): a duplicate in the dead-letter topic is harmless,
    and tansu cannot serve InitProducerId (docs/reference/test-services.md §1).
    """

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        *,
        client_id: str = DEFAULT_DEAD_LETTER_CLIENT_ID,
        request_timeout_ms: int = DEFAULT_REQUEST_TIMEOUT_MS,
    ) -> None:
        self.topic = topic
        self._bootstrap = bootstrap_servers
        self._client_id = client_id
        self._timeout_ms = request_timeout_ms
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        """Connect the producer. Raises ``KafkaError`` when the cluster cannot be reached."""
        if self._producer is not None:
            return
        producer = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap,
            client_id=self._client_id,
            acks="all",
            linger_ms=0,
            request_timeout_ms=self._timeout_ms,
            max_request_size=MAX_REQUEST_BYTES,
        )
        try:
            await producer.start()
        except BaseException:
            await producer.stop()
            raise
        self._producer = producer

    async def stop(self) -> None:
        """Flush and close the producer. Safe to call twice or before ``start``."""
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    async def send(self, letters: Sequence[DeadLetter]) -> None:
        """Produce every letter and wait until the broker acknowledged all of them.

        Raises:
            RetryableError: not started, or a send failed or timed out; some letters may have
                been written (duplicates on retry are fine, see the class docstring).
        """
        if not letters:
            return
        producer = self._producer
        if producer is None:
            raise RetryableError("dead-letter producer is not running")
        try:
            deliveries = [
                await producer.send(
                    self.topic,
                    letter.value,
                    key=letter.key,
                    headers=dead_letter_headers(letter),
                )
                for letter in letters
            ]
            results = await asyncio.gather(*deliveries, return_exceptions=True)
        except KafkaError as exc:
            raise RetryableError(f"dead-letter write to {self.topic} failed: {exc!r}") from exc
        for result in results:
            if isinstance(result, KafkaError):
                raise RetryableError(f"dead-letter write to {self.topic} failed: {result!r}")
            if isinstance(result, BaseException):
                raise result
        for letter in letters:
            log.warning(
                "dead-lettered %s[%d]@%d to %s: %s",
                letter.topic,
                letter.partition,
                letter.offset,
                self.topic,
                letter.error,
            )
