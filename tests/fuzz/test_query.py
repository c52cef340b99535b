"""Fuzzing the read API's query parsers: the ``filter`` parameter (traces, observations) and
the metrics query object (``/metrics``, ``/v2/metrics``). Any text raises nothing but
``BadRequest`` (→ 400), and what parses compiles to SQL with bound parameters."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from storage.errors import BadRequest
from storage.query.filter_columns import OBSERVATION_FILTERS, TRACE_FILTERS
from storage.query.filters import OPERATORS, compile_conditions, parse_filter_param
from storage.query.metrics import AGGREGATIONS, GRANULARITIES, build_sql, parse_metrics_query
from storage.query.metrics_views import VIEWS_V1, VIEWS_V2
from tests.fuzz.budget import Budget, budgets
from tests.fuzz.strategies import json_values, texts

ENTITIES = {"traces": TRACE_FILTERS, "observations": OBSERVATION_FILTERS}
COLUMNS = sorted({name for entity in ENTITIES.values() for name in entity.columns})
VIEWS = sorted({*VIEWS_V1, *VIEWS_V2})
FIELDS = sorted(
    {
        name
        for view in (*VIEWS_V1.values(), *VIEWS_V2.values())
        for name in (*view.dimensions, *view.measures)
    }
)
_times = (
    st.sampled_from(
        ["2025-11-01T00:00:00Z", "2025-12-01T00:00:00Z", "2025-11-01", "0001-01-01T00:00:00Z"]
    )
    | texts
)

conditions = st.one_of(
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(sorted(OPERATORS)) | texts,
            "column": st.sampled_from(COLUMNS) | texts,
            "operator": st.sampled_from(sorted({op for ops in OPERATORS.values() for op in ops}))
            | texts,
            "value": json_values | _times | st.lists(texts, max_size=3),
        },
        optional={"key": texts | json_values},
    ),
    json_values,
)
filter_texts = st.one_of(
    st.lists(conditions, max_size=4).map(json.dumps),
    json_values.map(json.dumps),
    texts,
)


def text_of(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[str]:
    return strategy.map(json.dumps)


metrics_queries = st.fixed_dictionaries(
    {},
    optional={
        "view": st.sampled_from(VIEWS) | json_values,
        "dimensions": st.lists(
            st.fixed_dictionaries({"field": st.sampled_from(FIELDS) | texts}), max_size=3
        )
        | json_values,
        "metrics": st.lists(
            st.fixed_dictionaries(
                {
                    "measure": st.sampled_from(FIELDS) | texts,
                    "aggregation": st.sampled_from(sorted(AGGREGATIONS)) | texts,
                }
            ),
            max_size=3,
        )
        | json_values,
        "filters": st.lists(conditions, max_size=3) | json_values,
        "timeDimension": st.fixed_dictionaries(
            {"granularity": st.sampled_from([*GRANULARITIES, "auto"]) | json_values}
        )
        | json_values,
        "fromTimestamp": _times,
        "toTimestamp": _times,
        "orderBy": st.lists(
            st.fixed_dictionaries(
                {"field": texts | st.sampled_from(FIELDS), "direction": texts | json_values}
            ),
            max_size=2,
        )
        | json_values,
        "config": st.dictionaries(st.sampled_from(["row_limit", "bins"]) | texts, json_values)
        | json_values,
    },
)


@budgets
def test_filter_parser_only_raises_bad_request(budget: Budget) -> None:
    @budget.settings
    @given(st.sampled_from(sorted(ENTITIES)), filter_texts)
    @example(
        "traces",
        '[{"type": "stringObject", "column": "metadata", "operator": "=", '
        '"key": "k", "value": "v"}]',
    )
    @example(
        "observations",
        '[{"type": "datetime", "column": "startTime", "operator": ">", '
        '"value": "99999-01-01T00:00:00Z"}]',
    )
    def check(entity_name: str, raw: str) -> None:
        entity = ENTITIES[entity_name]
        try:
            parsed = parse_filter_param(raw, entity)
        except BadRequest:
            return
        compile_conditions(parsed, entity, "otelfuse")

    check()


@budgets
def test_metrics_query_parser_only_raises_bad_request(budget: Budget) -> None:
    @budget.settings
    @given(st.sampled_from([1, 2]), text_of(metrics_queries) | filter_texts)
    @example(
        1,
        '{"view": "observations", "metrics": [{"measure": "count", "aggregation": "count"}],'
        ' "fromTimestamp": "2025-11-01T00:00:00Z", "toTimestamp": "2025-12-01T00:00:00Z"}',
    )
    def check(version: int, raw: str) -> None:
        try:
            query = parse_metrics_query(raw, version)
        except BadRequest:
            return
        build_sql(query, "otelfuse", "p")

    check()
