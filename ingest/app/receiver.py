"""The receiver role: OTLP/gRPC + OTLP/HTTP, ``POST /api/public/scores`` and ``POST
/api/public/ingestion`` → mapped records → Kafka (``KafkaPublisher``: observation and trace
records to the observations topic, scores to the scores topic); a request succeeds once Kafka
acknowledged it. With the archive on (default), the accepted request also goes to the raw topic
(``ingest.raw_publisher``), acknowledged before the answer too. With PostgreSQL it also serves
the media API (``/api/public/media``, blobs in S3). HTTP also serves health (the producer
has room), OpenAPI and ``/metrics``.
"""

from __future__ import annotations

import contextlib
import logging

from starlette.routing import BaseRoute

from ingest.api.ingestion import Ingestion
from ingest.api.scores import ScoreWrites
from ingest.app.media import media_routes, offloading, open_blobs
from ingest.app.metadata import open_role_metadata
from ingest.app.servers import start_grpc, start_http
from ingest.app.service import StackedService
from ingest.app.settings import Settings
from ingest.archive_hook import Archiving
from ingest.kafka import KafkaPublisher
from ingest.otlp.export import TraceExport
from ingest.otlp.http_receiver import OTLPHTTPReceiver
from ingest.otlp.logs_export import LogsExport
from ingest.otlp.logs_http import OTLPHTTPLogsReceiver

__all__ = ["Receiver"]

log = logging.getLogger(__name__)


class Receiver(StackedService):
    """OTLP, scores and ingestion batches in, records to Kafka."""

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings
        self.publisher = KafkaPublisher(settings.publisher)

    async def _health(self) -> str | None:
        return None if self.publisher.has_room() else "Kafka producer unavailable"

    async def _start(self, stack: contextlib.AsyncExitStack) -> None:
        """Connect to Kafka, then open both receivers.

        Raises:
            RetryableError: Kafka unreachable at start; RuntimeError: a port cannot be bound.
        """
        s = self.settings
        postgres = await open_role_metadata(s, stack, "receiver")
        keys = postgres.keys
        await self.publisher.start()
        stack.push_async_callback(self.publisher.stop)
        blobs = await open_blobs(s, stack, create=False)
        if blobs.kind == "local":
            log.info(
                "oversized fields, media and the raw archive go to the local folder %s/blobs: "
                "the other roles read them only if they share that folder "
                "(set OTELFUSE_BLOB_BACKEND=s3)",
                s.data_dir,
            )
        sink = offloading(s, self.publisher, blobs)
        archive = None
        if s.archive.enabled:
            from ingest.raw_publisher import RawPublisher

            raw = RawPublisher(self.publisher, s.archive.raw_topic, blobs)
            archive = Archiving(raw, s.archive)
        export = TraceExport(sink, keys, self.publisher, archive)
        logs = LogsExport(export, self.publisher)
        await start_grpc(s, stack, export, logs)
        publisher, limit = self.publisher, s.server.max_request_bytes
        routes: list[BaseRoute] = [
            *OTLPHTTPReceiver(export, limit).routes(),
            *OTLPHTTPLogsReceiver(logs, limit).routes(),
            *ScoreWrites(publisher, keys, limit, archive).routes(),
            *Ingestion(sink, publisher, keys, limit, archive).routes(),
            *media_routes(s, blobs, keys, postgres),
        ]
        await start_http(s, stack, routes, self._health)
        log.info(
            "otelfuse receiver ready: OTLP/gRPC %s, OTLP/HTTP http://%s → Kafka %s topics %s, %s",
            s.server.grpc_address,
            s.server.http_address,
            s.publisher.bootstrap_servers,
            s.publisher.topic,
            s.publisher.scores_topic,
        )
