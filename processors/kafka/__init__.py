"""The scale-out processor's Kafka transport: consumer loop, its config, backoff, dead letters
and metrics."""

__all__: list[str] = []
