"""``otelfuse_build_info{version, role}`` = 1, the conventional build-info gauge."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from prometheus_client import Gauge

__all__ = ["BUILD_INFO", "VERSION", "record_build_info"]

try:
    VERSION = version("otelfuse")
except PackageNotFoundError:  # running from a source tree without installing
    VERSION = "0.0.0"

BUILD_INFO = Gauge(
    "otelfuse_build_info", "Always 1; labels carry the version and the role.", ["version", "role"]
)


def record_build_info(role: str) -> None:
    """Set the gauge for this process's role (run, receiver, processor, query)."""
    BUILD_INFO.labels(VERSION, role).set(1)
