"""Shared fixtures for the enrichment tests: real catalog, real offline tiktoken, record factory."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime

import pytest

from processors.enrich import Enricher
from processors.pricing.catalog import CatalogPriceSource
from processors.tokens import TiktokenCounter
from storage.records import ObservationRecord

AT = datetime(2025, 7, 1, 12, 0, tzinfo=UTC)
"""Observation time used by the tests (prices are time-dependent)."""

RecordFactory = Callable[..., ObservationRecord]


@pytest.fixture(scope="session")
def token_counter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TiktokenCounter]:
    """One offline tiktoken counter for the session; restores TIKTOKEN_CACHE_DIR afterwards."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("TIKTOKEN_CACHE_DIR", raising=False)
        yield TiktokenCounter(tmp_path_factory.mktemp("tiktoken"))


@pytest.fixture(scope="session")
def catalog() -> CatalogPriceSource:
    return CatalogPriceSource()


@pytest.fixture
def enricher(catalog: CatalogPriceSource, token_counter: TiktokenCounter) -> Enricher:
    return Enricher(catalog, token_counter)


def _record(
    model: str | None = "gpt-4o",
    usage: Mapping[str, int] | None = None,
    cost: Mapping[str, str] | None = None,
    *,
    at: datetime = AT,
    level: str = "DEFAULT",
    input: str | None = None,
    output: str | None = None,
    model_parameters: str | None = None,
    metadata: Mapping[str, str] | None = None,
) -> ObservationRecord:
    record = ObservationRecord(
        project_id="project-1",
        id="0123456789abcdef",
        trace_id="0123456789abcdef0123456789abcdef",
        type="GENERATION",
        name="chat",
        environment="default",
        start_time_us=int(at.timestamp() * 1_000_000),
        level=level,
    )
    if model is not None:
        record.provided_model_name = model
    record.provided_usage_details.update(usage or {})
    record.provided_cost_details.update(cost or {})
    if input is not None:
        record.input = input
    if output is not None:
        record.output = output
    if model_parameters is not None:
        record.model_parameters = model_parameters
    record.metadata.update(metadata or {})
    return record


@pytest.fixture
def make_record() -> RecordFactory:
    """``make_record(model, usage, cost, *, at, level, input, output, model_parameters, ...)``."""
    return _record
