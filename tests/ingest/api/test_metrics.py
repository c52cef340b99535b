"""``/metrics/daily``, ``/metrics`` and ``/v2/metrics`` on real chdb
(docs/reference/langfuse.md §5)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from storage.clickhouse.chdb import ChdbClient
from tests.ingest.api.read_api import Api, Seeded, seed
from tests.support.chdb import DATABASE
from tests.support.records import BASE_US, generation, new_id, record

DAY = 86_400 * 1_000_000
FROM, TO = "2025-11-01T00:00:00Z", "2025-12-01T00:00:00Z"


def seed_next_day(api: Api) -> str:
    """A trace on 2025-11-23 with a claude generation (500 in / 50 out, $0.002) and a span."""
    p, tid = api.project_a, new_id(32)
    api.writer.write_observations(
        [
            record(
                p,
                tid,
                name="night",
                start_us=BASE_US + DAY,
                trace={"user_id": "carol", "is_root": True},
            ),
            generation(
                p,
                tid,
                start_us=BASE_US + DAY + 1_000,
                end_us=BASE_US + DAY + 2_001_000,
                completion_start_time_us=BASE_US + DAY + 501_000,
                provided_model_name="claude-3-haiku",
                usage_details={"input": 500, "output": 50},
                cost_details={"input": "0.0015", "output": "0.0005"},
                total_cost="0.002",
            ),
        ]
    )
    return tid


def metrics(api: Api, query: dict[str, Any], *, version: int = 1, auth: Any = None) -> Any:
    path = "/api/public/metrics" if version == 1 else "/api/public/v2/metrics"
    return api.get(path, params={"query": json.dumps(query)}, auth=auth)


def data(api: Api, query: dict[str, Any], version: int = 1) -> list[dict[str, Any]]:
    response = metrics(api, query, version=version)
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()["data"]
    return rows


def q(view: str, metrics_: list[tuple[str, str]], **extra: Any) -> dict[str, Any]:
    return {
        "view": view,
        "metrics": [{"measure": m, "aggregation": a} for m, a in metrics_],
        "fromTimestamp": FROM,
        "toTimestamp": TO,
        **extra,
    }


# ---- /metrics/daily --------------------------------------------------------------------------


def test_daily_metrics(api: Api) -> None:
    seed(api)
    seed_next_day(api)
    body = api.get("/api/public/metrics/daily").json()
    assert body == {
        "data": [
            {
                "date": "2025-11-23",
                "countTraces": 1,
                "countObservations": 2,
                "totalCost": 0.002,
                "usage": [
                    {
                        "model": "claude-3-haiku",
                        "inputUsage": 500,
                        "outputUsage": 50,
                        "totalUsage": 550,  # no "total" key: input + output
                        "countObservations": 1,
                        "countTraces": 1,
                        "totalCost": 0.002,
                    }
                ],
            },
            {
                "date": "2025-11-22",
                "countTraces": 3,
                "countObservations": 4,
                "totalCost": 0.006525000001,
                "usage": [
                    {
                        "model": "gpt-4o",
                        "inputUsage": 1300,  # input + input_cached_tokens
                        "outputUsage": 340,
                        "totalUsage": 1640,
                        "countObservations": 1,
                        "countTraces": 1,
                        "totalCost": 0.006525000001,
                    }
                ],
            },
        ],
        "meta": {"page": 1, "limit": 50, "totalItems": 2, "totalPages": 1},
    }


def test_daily_metrics_filters_pages_and_isolation(api: Api) -> None:
    seed(api)
    seed_next_day(api)

    def days(**params: Any) -> list[tuple[str, int]]:
        response = api.get("/api/public/metrics/daily", params=params)
        assert response.status_code == 200, response.text
        return [(d["date"], d["countTraces"]) for d in response.json()["data"]]

    assert days(userId="alice") == [("2025-11-22", 2)]
    assert days(traceName="night") == [("2025-11-23", 1)]
    assert days(tags=["rag", "beta"]) == [("2025-11-22", 1)]
    assert days(environment="staging") == [("2025-11-22", 1)]
    assert days(fromTimestamp="2025-11-23T00:00:00Z") == [("2025-11-23", 1)]
    assert days(toTimestamp="2025-11-23T00:00:00Z") == [("2025-11-22", 3)]
    page = api.get("/api/public/metrics/daily", params={"limit": 1, "page": 2}).json()
    assert [d["date"] for d in page["data"]] == ["2025-11-22"]
    assert page["meta"] == {"page": 2, "limit": 1, "totalItems": 2, "totalPages": 2}
    b = api.get("/api/public/metrics/daily", auth=api.auth_b).json()["data"]
    assert [(d["date"], d["countTraces"], d["countObservations"]) for d in b] == [
        ("2025-11-22", 1, 1)
    ]


# ---- /metrics query object -----------------------------------------------------------------------


def test_observations_by_model(api: Api) -> None:
    seed(api)
    seed_next_day(api)
    rows = data(
        api,
        q(
            "observations",
            [("count", "count"), ("totalCost", "sum"), ("totalTokens", "sum"), ("latency", "max")],
            dimensions=[{"field": "providedModelName"}],
            filters=[
                {
                    "column": "type",
                    "operator": "any of",
                    "value": ["GENERATION"],
                    "type": "stringOptions",
                }
            ],
        ),
    )
    assert rows == [  # default order: first metric desc, then the dimensions
        {
            "providedModelName": "claude-3-haiku",
            "count_count": 1,
            "sum_totalCost": 0.002,
            "sum_totalTokens": 550,
            "max_latency": 2000.0,
        },
        {
            "providedModelName": "gpt-4o",
            "count_count": 1,
            "sum_totalCost": 0.006525000001,
            "sum_totalTokens": 1640,
            "max_latency": 250.001,
        },
    ]


def test_observation_measures_and_percentiles(api: Api) -> None:
    seed(api)
    seed_next_day(api)
    generations = [
        {"column": "type", "operator": "=", "value": "GENERATION", "type": "string"},
    ]
    [row] = data(
        api,
        q(
            "observations",
            [
                ("timeToFirstToken", "min"),
                ("timeToFirstToken", "max"),
                ("inputTokens", "sum"),
                ("outputTokens", "sum"),
                ("inputCost", "sum"),
                ("outputCost", "sum"),
                ("latency", "p50"),
                ("latency", "avg"),
                ("count", "count"),
            ],
            filters=generations,
        ),
    )
    assert row["min_timeToFirstToken"] == 120.007
    assert row["max_timeToFirstToken"] == 500.0
    assert row["sum_inputTokens"] == 1800
    assert row["sum_outputTokens"] == 390
    assert row["sum_inputCost"] == pytest.approx(0.004625)
    assert row["sum_outputCost"] == pytest.approx(0.0039)
    assert row["avg_latency"] == pytest.approx((250.001 + 2000.0) / 2)
    assert 250.001 <= row["p50_latency"] <= 2000.0
    assert row["count_count"] == 2


def test_traces_view_with_time_dimension(api: Api) -> None:
    seed(api)
    seed_next_day(api)
    rows = data(
        api,
        q(
            "traces",
            [("count", "count"), ("observationsCount", "sum"), ("totalCost", "sum")],
            timeDimension={"granularity": "day"},
        ),
    )
    assert rows == [
        {
            "time_dimension": "2025-11-22T00:00:00.000000Z",
            "count_count": 3,
            "sum_observationsCount": 4,
            "sum_totalCost": 0.006525000001,
        },
        {
            "time_dimension": "2025-11-23T00:00:00.000000Z",
            "count_count": 1,
            "sum_observationsCount": 2,
            "sum_totalCost": 0.002,
        },
    ]
    by_name = data(
        api,
        q(
            "traces",
            [("latency", "max")],
            dimensions=[{"field": "name"}, {"field": "userId"}],
            orderBy=[{"field": "name", "direction": "asc"}],
            timeDimension=None,
        ),
    )
    assert by_name == [
        {"name": "batch", "userId": "alice", "max_latency": 5000.0},
        {"name": "ingest", "userId": "bob", "max_latency": 1000.0},
        {"name": "night", "userId": "carol", "max_latency": 2001.0},
        {"name": "qa", "userId": "alice", "max_latency": 2000.0},
    ]


def test_granularities_row_limit_and_histogram(api: Api) -> None:
    seed(api)
    hourly = data(
        api, q("observations", [("count", "count")], timeDimension={"granularity": "hour"})
    )
    assert hourly == [{"time_dimension": "2025-11-22T00:00:00.000000Z", "count_count": 4}]
    minutes = data(
        api,
        q(
            "observations",
            [("count", "count")],
            timeDimension={"granularity": "auto"},
            fromTimestamp="2025-11-22T00:00:00Z",
            toTimestamp="2025-11-22T01:00:00Z",
        ),
    )
    assert [r["time_dimension"][11:16] for r in minutes] == ["00:06", "00:07", "00:08"]
    limited = data(
        api,
        q(
            "observations",
            [("count", "count")],
            dimensions=[{"field": "name"}],
            orderBy=[{"field": "name", "direction": "desc"}],
            config={"row_limit": 2},
        ),
    )
    assert limited == [{"name": "qa", "count_count": 1}, {"name": "ingest", "count_count": 1}]
    [histogram] = data(api, q("observations", [("latency", "histogram")], config={"bins": 2}))
    buckets = histogram["histogram_latency"]
    assert len(buckets) == 2 and all(len(b) == 3 for b in buckets)
    assert sum(b[2] for b in buckets) == pytest.approx(4)


def test_trace_related_dimensions_and_metadata_filter(api: Api) -> None:
    s: Seeded = seed(api)
    rows = data(
        api,
        q(
            "observations",
            [("count", "count")],
            dimensions=[{"field": "userId"}],
            filters=[
                {"column": "tags", "operator": "any of", "value": ["rag"], "type": "arrayOptions"}
            ],
            orderBy=[{"field": "userId", "direction": "asc"}],
        ),
    )
    assert rows == [{"userId": "alice", "count_count": 2}, {"userId": "bob", "count_count": 1}]
    meta = [
        {
            "column": "metadata",
            "key": "customer",
            "operator": "=",
            "value": '"acme"',
            "type": "stringObject",
        }
    ]
    assert data(api, q("observations", [("count", "count")], filters=meta)) == [{"count_count": 1}]
    assert s.gen1  # the only observation with that metadata


def test_v2_metrics(api: Api) -> None:
    seed(api)
    rows = data(
        api,
        q("observations", [("count", "count")], dimensions=[{"field": "environment"}]),
        version=2,
    )
    assert rows == [
        {"environment": "production", "count_count": 2},
        {"environment": "default", "count_count": 1},
        {"environment": "staging", "count_count": 1},
    ]
    for field in ("id", "traceId", "userId", "sessionId", "parentObservationId"):
        response = metrics(
            api, q("observations", [("count", "count")], dimensions=[{"field": field}]), version=2
        )
        assert response.status_code == 400
        assert "high-cardinality" in response.json()["message"]
        # ... but v1 accepts them
        assert (
            metrics(
                api, q("observations", [("count", "count")], dimensions=[{"field": field}])
            ).status_code
            == 200
        )
    traces_view = metrics(api, q("traces", [("count", "count")]), version=2)
    assert traces_view.status_code == 400
    assert traces_view.json()["message"].startswith("query.view must be one of")


def insert_scores(engine: ChdbClient, project_id: str, trace_id: str, obs_id: str) -> None:
    columns = [
        "id",
        "timestamp",
        "project_id",
        "trace_id",
        "observation_id",
        "name",
        "value",
        "string_value",
        "data_type",
        "source",
        "metadata",
        "event_ts",
    ]
    rows = [
        [
            new_id(),
            BASE_US,
            project_id,
            trace_id,
            obs_id,
            "accuracy",
            0.5,
            None,
            "NUMERIC",
            "API",
            {},
            BASE_US,
        ],
        [
            new_id(),
            BASE_US,
            project_id,
            trace_id,
            None,
            "accuracy",
            1.0,
            None,
            "NUMERIC",
            "EVAL",
            {},
            BASE_US,
        ],
        [
            new_id(),
            BASE_US,
            project_id,
            trace_id,
            None,
            "helpful",
            1.0,
            "True",
            "BOOLEAN",
            "API",
            {},
            BASE_US,
        ],
        [
            new_id(),
            BASE_US,
            project_id,
            trace_id,
            None,
            "tone",
            0.0,
            "polite",
            "CATEGORICAL",
            "API",
            {},
            BASE_US,
        ],
        [
            new_id(),
            BASE_US,
            project_id,
            trace_id,
            None,
            "tone",
            0.0,
            "polite",
            "CATEGORICAL",
            "API",
            {},
            BASE_US,
        ],
        [
            new_id(),
            BASE_US,
            project_id,
            trace_id,
            None,
            "tone",
            0.0,
            "rude",
            "CATEGORICAL",
            "API",
            {},
            BASE_US,
        ],
    ]
    engine.insert_rows(f"{DATABASE}.scores", columns, rows)


def test_scores_views(api: Api, engine: ChdbClient) -> None:
    s = seed(api)
    insert_scores(engine, api.project_a, s.t1, s.gen1)
    insert_scores(engine, api.project_b, s.b_trace, "x")
    numeric = data(
        api,
        q(
            "scores-numeric",
            [("value", "avg"), ("count", "count")],
            dimensions=[{"field": "name"}, {"field": "traceName"}],
            orderBy=[{"field": "name", "direction": "asc"}],
        ),
    )
    assert numeric == [
        {"name": "accuracy", "traceName": "qa", "avg_value": 0.75, "count_count": 2},
        {"name": "helpful", "traceName": "qa", "avg_value": 1.0, "count_count": 1},
    ]
    boolean = data(
        api, q("scores-boolean", [("count", "count")], dimensions=[{"field": "stringValue"}])
    )
    assert boolean == [{"stringValue": "True", "count_count": 1}]
    categorical = data(
        api,
        q("scores-categorical", [("count", "count")], dimensions=[{"field": "stringValue"}]),
        version=2,
    )
    assert categorical == [
        {"stringValue": "polite", "count_count": 2},
        {"stringValue": "rude", "count_count": 1},
    ]
    by_observation = data(
        api,
        q("scores-numeric", [("count", "count")], dimensions=[{"field": "observationName"}]),
    )
    assert by_observation == [
        {"observationName": None, "count_count": 2},
        {"observationName": "chat gpt-4o", "count_count": 1},
    ]
    counted = data(
        api,
        q(
            "observations",
            [("countScores", "sum")],
            filters=[{"column": "type", "operator": "=", "value": "GENERATION", "type": "string"}],
        ),
    )
    assert counted == [{"sum_countScores": 1}]


def test_metrics_are_project_scoped(api: Api) -> None:
    seed(api)
    query = q("observations", [("count", "count")], dimensions=[{"field": "name"}])
    b_rows = metrics(api, query, auth=api.auth_b).json()["data"]
    assert b_rows == [{"name": "secret", "count_count": 1}]
    a_names = {r["name"] for r in data(api, query)}
    assert "secret" not in a_names and a_names == {"qa", "chat gpt-4o", "ingest", "batch"}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (None, "query is required"),
        ("{", "query must be a JSON object"),
        ("[]", "query must be a JSON object"),
        ({"view": "spans"}, "query.view must be one of"),
        (q("observations", []), "query.metrics must be an array of 1 to 20"),
        (q("observations", [("cost", "sum")]), "query.metrics[0].measure 'cost' is not a measure"),
        (q("observations", [("count", "median")]), "query.metrics[0].aggregation must be one of"),
        (
            q("observations", [("count", "count")], dimensions=[{"field": "cost"}]),
            "query.dimensions[0].field 'cost' is not a dimension",
        ),
        (
            q("observations", [("count", "count")], fromTimestamp=TO, toTimestamp=FROM),
            "query.fromTimestamp must be before query.toTimestamp",
        ),
        (
            {
                k: v
                for k, v in q("observations", [("count", "count")]).items()
                if k != "toTimestamp"
            },
            "query.toTimestamp is required",
        ),
        (
            q("observations", [("count", "count")], timeDimension={"granularity": "year"}),
            "query.timeDimension must be null or",
        ),
        (
            q("observations", [("count", "count")], orderBy=[{"field": "sum_count"}]),
            "query.orderBy[0].field 'sum_count' is not a dimension or metric",
        ),
        (
            q("observations", [("count", "count")], config={"row_limit": 5000}),
            "query.config.row_limit must be an integer between 1 and 1000",
        ),
        (
            q(
                "observations",
                [("count", "count")],
                filters=[{"column": "cost", "operator": "=", "value": 1, "type": "number"}],
            ),
            "query.filters[0].column 'cost' is not a filterable observations column",
        ),
    ],
)
def test_bad_query_is_400(api: Api, query: Any, message: str) -> None:
    params = (
        {} if query is None else {"query": query if isinstance(query, str) else json.dumps(query)}
    )
    response = api.get("/api/public/metrics", params=params)
    assert response.status_code == 400
    assert response.json()["message"].startswith(message), response.json()
