"""Receiver metrics (design.md "Metrics"; names mirror the collector's receiverhelper).

``otelfuse_receiver_accepted_spans_total{transport}`` counts spans stored;
``otelfuse_receiver_refused_spans_total{transport,reason}`` counts spans refused, with
``reason`` one of ``invalid_span``, ``queue_full``, ``storage``, ``bad_request``,
``unauthenticated``, ``too_large``.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

__all__ = ["RECEIVER_METRICS", "ReceiverMetrics"]


class ReceiverMetrics:
    """The receiver's Prometheus instruments (default registry)."""

    def __init__(self) -> None:
        self._accepted = Counter(
            "otelfuse_receiver_accepted_spans",
            "Spans the receiver stored.",
            ["transport"],
        )
        self._refused = Counter(
            "otelfuse_receiver_refused_spans",
            "Spans or requests the receiver refused, by reason.",
            ["transport", "reason"],
        )
        self.request_duration = Histogram(
            "otelfuse_receiver_request_duration_seconds",
            "Time from request arrival to response, in seconds.",
            ["transport", "outcome"],
        )

        self._produce = Histogram(
            "otelfuse_receiver_kafka_produce_duration_seconds",
            "Time from sending an export's messages to Kafka to their acknowledgement, seconds.",
            ["outcome"],
        )

    def kafka_produce(self, outcome: str, seconds: float) -> None:
        """Observe one export's produce latency; ``outcome`` is success|failure."""
        self._produce.labels(outcome).observe(seconds)

    def accepted(self, transport: str, spans: int) -> None:
        """Count ``spans`` stored through ``transport`` (grpc|http)."""
        self._accepted.labels(transport).inc(spans)

    def refused(self, transport: str, reason: str, spans: int) -> None:
        """Count ``spans`` refused for ``reason`` (0 still creates the series)."""
        self._refused.labels(transport, reason).inc(spans)


RECEIVER_METRICS = ReceiverMetrics()
