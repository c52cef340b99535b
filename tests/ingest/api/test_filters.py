"""The ``filter`` JSON parameter on traces and observations (docs/reference/langfuse.md §5)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from storage.query.filter_columns import OBSERVATION_FILTERS, TRACE_FILTERS
from storage.query.filters import OPERATORS, compile_conditions, parse_filter_param
from storage.query.values import BadRequest
from tests.ingest.api.read_api import Api, Seeded, seed


def cond(type_: str, column: str, operator: str, value: Any = None, **extra: Any) -> dict[str, Any]:
    return {"type": type_, "column": column, "operator": operator, "value": value, **extra}


def found(api: Api, path: str, *conditions: dict[str, Any]) -> list[str]:
    response = api.get(path, params={"filter": json.dumps(list(conditions))})
    assert response.status_code == 200, response.text
    key = "id"
    return [item[key] for item in response.json()["data"]]


def traces(api: Api, *conditions: dict[str, Any]) -> list[str]:
    return found(api, "/api/public/traces", *conditions)


def test_trace_filter_types(api: Api) -> None:
    s: Seeded = seed(api)
    assert traces(api, cond("string", "name", "=", "qa")) == [s.t1]
    assert traces(api, cond("string", "Name", "contains", "NGES")) == [s.t2]  # UI label, any case
    assert traces(api, cond("string", "name", "does not contain", "a")) == [s.t2]
    assert traces(api, cond("string", "name", "starts with", "ba")) == [s.t3]
    assert traces(api, cond("string", "name", "ends with", "est")) == [s.t2]
    assert traces(api, cond("string", "userId", "=", "alice")) == [s.t3, s.t1]
    assert traces(api, cond("stringOptions", "environment", "any of", ["staging", "x"])) == [s.t2]
    assert traces(api, cond("stringOptions", "environment", "none of", ["staging"])) == [
        s.t3,
        s.t1,
    ]
    assert traces(api, cond("arrayOptions", "tags", "any of", ["beta"])) == [s.t1]
    assert traces(api, cond("arrayOptions", "tags", "all of", ["rag", "beta"])) == [s.t1]
    assert traces(api, cond("arrayOptions", "tags", "none of", ["rag"])) == [s.t3]
    assert traces(api, cond("datetime", "timestamp", ">=", "2025-11-22T00:07:40.123456Z")) == [
        s.t3,
        s.t2,
    ]
    assert traces(api, cond("datetime", "Timestamp", "<", "2025-11-22T00:07:40.123456Z")) == [s.t1]
    assert traces(api, cond("boolean", "public", "=", True)) == [s.t3]
    assert traces(api, cond("boolean", "public", "<>", True)) == [s.t2, s.t1]
    assert traces(api, cond("null", "sessionId", "is not null")) == [s.t1]
    assert traces(api, cond("null", "sessionId", "is null")) == [s.t3, s.t2]
    assert traces(api, cond("stringObject", "metadata", "=", "/ask", key="route")) == []
    assert traces(api, cond("stringObject", "metadata", "contains", "ask", key="route")) == [s.t1]
    assert traces(api, cond("number", "latency", ">=", 2)) == [s.t3, s.t1]  # 5 s and 2 s
    assert traces(api, cond("number", "latency", "<", 2)) == [s.t2]


def test_trace_aggregate_filters(api: Api) -> None:
    s = seed(api)
    assert traces(api, cond("number", "totalCost", ">", 0.006)) == [s.t1]
    assert traces(api, cond("number", "Total Cost ($)", "<=", 0)) == [s.t3, s.t2]
    assert traces(api, cond("number", "totalTokens", "=", 1640)) == [s.t1]
    assert traces(api, cond("number", "inputTokens", "=", 1300)) == [s.t1]  # input + cached
    assert traces(api, cond("number", "outputCost", ">", 0.003)) == [s.t1]
    assert traces(api, cond("categoryOptions", "level", "any of", ["ERROR"])) == [s.t2]
    assert traces(api, cond("categoryOptions", "level", "any of", ["WARNING"])) == [s.t1]
    assert traces(api, cond("number", "errorCount", ">", 0)) == [s.t2]
    # combined with query parameters, and all conditions must hold
    both = [cond("string", "userId", "=", "alice"), cond("number", "totalCost", ">", 0)]
    assert traces(api, *both) == [s.t1]
    response = api.get(
        "/api/public/traces",
        params={"userId": "alice", "filter": json.dumps([cond("string", "name", "=", "batch")])},
    )
    assert [t["id"] for t in response.json()["data"]] == [s.t3]
    assert response.json()["meta"]["totalItems"] == 1


def test_observation_filters_v1_and_v2(api: Api) -> None:
    s = seed(api)
    for path in ("/api/public/observations", "/api/public/v2/observations"):
        assert found(api, path, cond("stringOptions", "type", "any of", ["GENERATION"])) == [s.gen1]
        assert found(api, path, cond("string", "model", "=", "gpt-4o")) == [s.gen1]
        assert found(api, path, cond("number", "totalTokens", ">", 1000)) == [s.gen1]
        assert found(api, path, cond("number", "latency", ">", 4)) == [s.obs3]
        assert found(api, path, cond("numberObject", "usageDetails", ">=", 340, key="output")) == [
            s.gen1
        ]
        assert found(api, path, cond("numberObject", "metadata", "=", 2, key="attempt")) == [s.gen1]
        acme = cond("stringObject", "metadata", "=", '"acme"', key="customer")
        assert found(api, path, acme) == [s.gen1]
        assert found(api, path, cond("null", "parentObservationId", "is not null")) == [s.gen1]
        assert found(api, path, cond("string", "traceName", "=", "batch")) == [s.obs3]
        assert found(api, path, cond("string", "userId", "=", "bob")) == [s.obs2]
        assert found(api, path, cond("arrayOptions", "traceTags", "all of", ["rag", "beta"])) == [
            s.gen1,
            s.root1,
        ]
        assert found(api, path, cond("datetime", "startTime", ">", "2025-11-22T00:08:00Z")) == [
            s.obs3
        ]
        # a value shaped like SQL is only ever data
        assert found(api, path, cond("string", "name", "=", "qa' OR '1'='1")) == []
        injected = cond("stringObject", "metadata", "=", "x", key="a'] OR 1=1 --")
        assert found(api, path, injected) == []
        assert s.b_trace not in [
            o["traceId"]
            for o in api.get(
                path, params={"filter": json.dumps([cond("string", "userId", "=", "alice")])}
            ).json()["data"]
        ]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("not json", "filter must be a JSON array"),
        ('{"type": "string"}', "filter must be a JSON array"),
        ("[1]", "filter[0] must be an object"),
        ('[{"type": "regex", "column": "name", "operator": "="}]', "filter[0].type must be one of"),
        (
            '[{"type": "string", "column": "cost; DROP TABLE traces", "operator": "="}]',
            "filter[0].column 'cost; DROP TABLE traces' is not a filterable trace column",
        ),
        (
            '[{"type": "string", "column": "name", "operator": "like", "value": "a"}]',
            "filter[0].operator for type 'string' must be one of",
        ),
        (
            '[{"type": "number", "column": "name", "operator": "=", "value": 1}]',
            "filter[0]: column 'name' does not support filter type 'number'",
        ),
        ('[{"type": "string", "column": "name", "operator": "=", "value": 1}]', "filter[0].value"),
        (
            '[{"type": "stringObject", "column": "metadata", "operator": "=", "value": "a"}]',
            "filter[0].key must be a non-empty string",
        ),
        (
            '[{"type": "datetime", "column": "timestamp", "operator": ">", "value": "x"}]',
            "filter[0].value must be an ISO-8601 timestamp",
        ),
        (
            '[{"type": "number", "column": "latency", "operator": ">", "value": true}]',
            "filter[0].value must be a number",
        ),
        (
            '[{"type": "arrayOptions", "column": "tags", "operator": "any of", "value": "a"}]',
            "filter[0].value must be an array of strings",
        ),
        ("[" + ",".join(["{}"] * 51) + "]", "filter holds 51 conditions; at most 50"),
    ],
)
def test_bad_filter_is_400(api: Api, raw: str, message: str) -> None:
    response = api.get("/api/public/traces", params={"filter": raw})
    assert response.status_code == 400
    assert response.json()["message"].startswith(message), response.json()


def test_observation_columns_are_their_own_whitelist(api: Api) -> None:
    raw = json.dumps([cond("number", "errorCount", ">", 0)])  # a trace column
    response = api.get("/api/public/observations", params={"filter": raw})
    assert response.status_code == 400
    assert "not a filterable observation column" in response.json()["message"]


def test_every_value_is_a_parameter() -> None:
    raw = json.dumps(
        [
            cond("string", "name", "contains", "'; DROP TABLE x; --"),
            cond("stringObject", "metadata", "=", "v", key="k'"),
            cond("stringOptions", "environment", "any of", ["a'", "b"]),
            cond("number", "totalCost", ">", 1),
        ]
    )
    conditions = parse_filter_param(raw, TRACE_FILTERS)
    sql, params = compile_conditions(conditions, TRACE_FILTERS, "db")
    text = " ".join(sql)
    assert "DROP" not in text and "k'" not in text and "a'" not in text
    assert params == {
        "f0v": "'; DROP TABLE x; --",
        "f1k": "k'",
        "f1v": "v",
        "f2v": ["a'", "b"],
        "f3v": 1.0,
    }
    assert "HAVING" in text and "db.observations" in text


def test_every_type_has_operators_and_a_column() -> None:
    kinds = {
        c.kind for c in (*TRACE_FILTERS.columns.values(), *OBSERVATION_FILTERS.columns.values())
    }
    assert kinds == {"string", "datetime", "number", "bool", "array", "map", "number_map"}
    assert set(OPERATORS) == {
        "datetime",
        "string",
        "stringOptions",
        "categoryOptions",
        "arrayOptions",
        "number",
        "stringObject",
        "numberObject",
        "booleanObject",
        "boolean",
        "null",
    }
    with pytest.raises(BadRequest):
        parse_filter_param("[]]", TRACE_FILTERS)
    assert parse_filter_param("", TRACE_FILTERS) == ()
    assert parse_filter_param("[]", TRACE_FILTERS) == ()


@pytest.mark.parametrize("value", ["\x00", "a\\", "'", '"', "\n\t", "{x:String}", "é🙂", "%_"])
def test_odd_values_are_plain_data(api: Api, value: str) -> None:
    seed(api)
    for path in ("/api/public/traces", "/api/public/observations", "/api/public/v2/observations"):
        conditions = [
            cond("string", "name", "contains", value),
            cond("stringObject", "metadata", "=", value, key=value),
            cond("stringOptions", "environment", "any of", [value]),
        ]
        assert found(api, path, *conditions) == []
        response = api.get(path, params={"name": value, "userId": value, "environment": value})
        assert response.status_code == 200, response.text
        assert response.json()["data"] == []
