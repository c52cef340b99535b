"""Receiver metrics (docs/architecture.md "Metrics"; names mirror the collector's receiverhelper).

- ``otelfuse_receiver_accepted_spans_total{transport}``: spans stored (transport grpc|http).
- ``otelfuse_receiver_refused_spans_total{transport,reason}``: spans of decoded requests
  refused: ``invalid_span`` (partial_success), ``too_large`` (over the Kafka message limit),
  ``storage`` (the sink failed after decoding).
- ``otelfuse_receiver_accepted_log_records_total{transport}``: OTLP log records stored (GenAI
  events: input/output of their span, or scores).
- ``otelfuse_receiver_refused_log_records_total{transport,reason}``: log records of decoded
  requests refused: ``not_genai`` (otelfuse stores GenAI events only), ``invalid_log_record``
  (a GenAI event without span context, evaluation name or score), ``too_large``, ``storage``.
- ``otelfuse_receiver_refused_requests_total{transport,reason}``: requests answered with an
  error: ``bad_request``, ``unauthenticated``, ``too_large``, ``unsupported_media_type``,
  ``unavailable`` (overload or downstream outage, retryable), ``internal``.
- ``otelfuse_receiver_request_duration_seconds{transport,outcome}`` (histogram).
- ``otelfuse_receiver_request_size_bytes{transport}`` (histogram, body as received).
- ``otelfuse_receiver_kafka_produce_duration_seconds{outcome}`` (histogram).
- ``otelfuse_receiver_queue_size_records`` / ``otelfuse_receiver_queue_capacity_records``
  (gauges): records accepted and not yet durable, and the limit beyond which exports get 503
  (all-in-one: the in-process queue; receiver role: unacknowledged Kafka records are in
  ``otelfuse_receiver_producer_buffer_bytes``).

Requests refused before decoding (overload, credentials, size) have no span count, so they
are counted as requests.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import Counter, Gauge, Histogram

__all__ = ["RECEIVER_METRICS", "ReceiverMetrics"]

_REASON_BY_STATUS = {
    400: "bad_request",
    401: "unauthenticated",
    413: "too_large",
    415: "unsupported_media_type",
    500: "internal",
    503: "unavailable",
}
_SIZE_BUCKETS = tuple(float(4**i * 256) for i in range(11))  # 256 B .. 256 MiB


class ReceiverMetrics:
    """The receiver's Prometheus instruments (default registry)."""

    def __init__(self) -> None:
        self._accepted = Counter(
            "otelfuse_receiver_accepted_spans", "Spans the receiver stored.", ["transport"]
        )
        self._refused = Counter(
            "otelfuse_receiver_refused_spans",
            "Spans of decoded requests the receiver refused, by reason.",
            ["transport", "reason"],
        )
        self._accepted_logs = Counter(
            "otelfuse_receiver_accepted_log_records",
            "OTLP log records (GenAI events) the receiver stored.",
            ["transport"],
        )
        self._refused_logs = Counter(
            "otelfuse_receiver_refused_log_records",
            "OTLP log records of decoded requests the receiver refused, by reason.",
            ["transport", "reason"],
        )
        self._offloaded_fields = Counter(
            "otelfuse_receiver_offloaded_fields",
            "Input, output and metadata values written to the blob store before publishing "
            "(claim check, storage.blobs.claim_check).",
        )
        self._offloaded_bytes = Counter(
            "otelfuse_receiver_offloaded_bytes",
            "UTF-8 bytes of the values counted in otelfuse_receiver_offloaded_fields_total.",
        )
        self._refused_requests = Counter(
            "otelfuse_receiver_refused_requests",
            "Requests the receiver answered with an error status, by reason.",
            ["transport", "reason"],
        )
        self.request_duration = Histogram(
            "otelfuse_receiver_request_duration_seconds",
            "Time from request arrival to response, in seconds.",
            ["transport", "outcome"],
        )
        self.request_size = Histogram(
            "otelfuse_receiver_request_size_bytes",
            "Size of export request bodies as received (compressed if they were), in bytes.",
            ["transport"],
            buckets=_SIZE_BUCKETS,
        )
        self._produce = Histogram(
            "otelfuse_receiver_kafka_produce_duration_seconds",
            "Time from sending an export's messages to Kafka to their acknowledgement, seconds.",
            ["outcome"],
        )

        self._queue_size = Gauge(
            "otelfuse_receiver_queue_size_records",
            "Records accepted but not yet written (all-in-one queue).",
        )
        self._queue_capacity = Gauge(
            "otelfuse_receiver_queue_capacity_records",
            "Queue capacity in records; beyond it exports are refused with 503/UNAVAILABLE.",
        )
        self._producer_buffer = Gauge(
            "otelfuse_receiver_producer_buffer_bytes",
            "Bytes sent to Kafka and not yet acknowledged (receiver role).",
        )

    def watch_queue(self, size: Callable[[], float], capacity: float) -> None:
        """Report the in-process queue's live size and its capacity."""
        self._queue_size.set_function(size)
        self._queue_capacity.set(capacity)

    def watch_producer_buffer(self, size: Callable[[], float]) -> None:
        """Report the Kafka producer's unacknowledged bytes."""
        self._producer_buffer.set_function(size)

    def kafka_produce(self, outcome: str, seconds: float) -> None:
        """Observe one export's produce latency; ``outcome`` is success|failure."""
        self._produce.labels(outcome).observe(seconds)

    def offloaded(self, fields: int, size: int) -> None:
        """Count ``fields`` values of ``size`` bytes in total written to the blob store."""
        if fields:
            self._offloaded_fields.inc(fields)
            self._offloaded_bytes.inc(size)

    def accepted(self, transport: str, spans: int) -> None:
        """Count ``spans`` stored through ``transport`` (grpc|http)."""
        self._accepted.labels(transport).inc(spans)

    def refused(self, transport: str, reason: str, spans: int) -> None:
        """Count ``spans`` of a decoded request refused for ``reason``."""
        self._refused.labels(transport, reason).inc(spans)

    def accepted_logs(self, transport: str, records: int) -> None:
        """Count ``records`` log records stored through ``transport`` (grpc|http)."""
        self._accepted_logs.labels(transport).inc(records)

    def refused_logs(self, transport: str, reason: str, records: int) -> None:
        """Count ``records`` log records of a decoded request refused for ``reason``."""
        if records:
            self._refused_logs.labels(transport, reason).inc(records)

    def refused_request(self, transport: str, http_status: int) -> None:
        """Count one request answered with ``http_status`` (its gRPC twin for gRPC)."""
        reason = _REASON_BY_STATUS.get(http_status, "internal")
        self._refused_requests.labels(transport, reason).inc()


RECEIVER_METRICS = ReceiverMetrics()
