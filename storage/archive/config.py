"""``ArchiveConfig``: the raw archive's settings (README "Configuration")."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ArchiveConfig"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ArchiveConfig:
    """Where and how accepted requests are archived (docs/archive-format.md)."""

    enabled: bool = True
    """Archive accepted requests (all-in-one: in-process; scale-out: the receiver publishes to
    ``raw_topic`` and the ``archiver`` role writes the objects)."""
    object_max_bytes: int = 8 * 1024 * 1024
    """An object is cut once its frames (uncompressed) reach this many bytes …"""
    object_max_age_s: float = 60.0
    """… or this many seconds after its first request."""
    queue_max_bytes: int = 64 * 1024 * 1024
    """All-in-one: request bytes accepted but not yet written to the blob store; beyond it
    exports are answered 503 + ``Retry-After`` / UNAVAILABLE (backpressure, nothing dropped)."""
    retention_days: int = 30
    """Default of ``otelfuse archive prune --older-than-days``: hours older than this go."""
    exclude_projects: str = ""
    """Comma-separated project ids that are never archived (per-project opt-out)."""
    raw_topic: str = "otelfuse.raw"
    """Scale-out: the Kafka topic of raw requests (keyed by project id)."""
    archiver_group: str = "otelfuse-archiver"
    """Scale-out: the archiver role's consumer group."""

    def __post_init__(self) -> None:
        if self.object_max_bytes <= 0 or self.queue_max_bytes <= 0:
            raise ValueError("object_max_bytes and queue_max_bytes must be positive")
        if self.object_max_age_s <= 0 or self.retention_days <= 0:
            raise ValueError("object_max_age_s and retention_days must be positive")

    @property
    def excluded(self) -> frozenset[str]:
        """The opted-out project ids."""
        return frozenset(p.strip() for p in self.exclude_projects.split(",") if p.strip())

    def archives(self, project_id: str) -> bool:
        """True when requests of ``project_id`` are archived."""
        return self.enabled and project_id not in self.excluded
