"""Client-side parameter rendering for the server client, proven equivalent on ClickHouse 26.9.

``to_driver_query`` rewrites ``{name:Type}`` into ``CAST(%(name)s AS Type)`` for
clickhouse-driver. The 18.16 test server cannot run the real schema's SQL, so equivalence with
server-side parameters is checked on chdb: each statement runs once with chdb's native parameters
and once rendered exactly as clickhouse-driver renders it, and the results must match. The
repository and the writer's lookups are run the same way.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

import pytest
from clickhouse_driver.util.escape import escape_params

from storage.clickhouse.chdb import ChdbClient
from storage.clickhouse.client import NATIVE
from storage.clickhouse.params import has_placeholders, to_driver_query
from storage.clickhouse.writer import ClickHouseWriter
from storage.errors import PermanentError
from storage.query.observations import ObservationFilter, get_observation, list_observations
from storage.query.params import PageRequest
from storage.query.repository import Repository
from storage.query.traces import TraceFilter, get_trace, list_traces
from storage.records import ObservationRecord
from tests.support.chdb import DATABASE, TRICKY
from tests.support.fakes import DelegatingClient
from tests.support.records import BASE_US, generation, new_id, record


def render(sql: str, params: Mapping[str, Any] | None) -> str:
    """The SQL text clickhouse-driver sends (client-side substitution, as ``Client`` does)."""
    query, values = to_driver_query(sql, params)
    if values is None:
        return query
    escaped: dict[str, Any] = escape_params(values, None)  # context is only used for datetimes
    return query % escaped


class ClientSideParams(DelegatingClient):
    """A ``Client`` that runs every statement on chdb the way ``ServerClient`` renders it."""

    def __init__(self, client: ChdbClient) -> None:
        super().__init__(client, frozenset({NATIVE}))
        self.statements = 0

    def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        self.client.command(render(sql, params))

    def select(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        self.statements += 1
        return self.client.select(render(sql, params))

    def insert_columns(
        self, table: str, columns: Sequence[str], data: Sequence[Sequence[Any]]
    ) -> None:
        self.insert_rows(table, columns, list(zip(*data, strict=True)))


def test_placeholders_become_casts() -> None:
    query, values = to_driver_query(
        "SELECT {a:String}, {b : Array(String)}, {a:String} WHERE x LIKE '%y' -- {c:UInt8} 50%",
        {"a": "it's", "b": ("x", "y"), "unused": 1},
    )
    assert query == (
        "SELECT CAST(%(a)s AS String), CAST(%(b)s AS Array(String)), CAST(%(a)s AS String)"
        " WHERE x LIKE '%%y' -- {c:UInt8} 50%%"
    )
    assert values == {"a": "it's", "b": ["x", "y"]}


def test_placeholder_look_alikes_in_literals_are_kept() -> None:
    sql = "SELECT '{a:String}', \"{b:String}\", `{c:String}` /* {d:String} */, {e:UInt8}"
    query, values = to_driver_query(sql, {"e": 1})
    assert query.startswith("SELECT '{a:String}', \"{b:String}\", `{c:String}` /* {d:String} */")
    assert values == {"e": 1}
    assert not has_placeholders("SELECT '{a:String}'")
    assert has_placeholders("SELECT {a:String}")


def test_without_placeholders_nothing_changes() -> None:
    assert to_driver_query("SELECT '100%'", None) == ("SELECT '100%'", None)
    assert to_driver_query("SELECT '100%'", {"x": 1}) == ("SELECT '100%'", None)


def test_value_normalisation_and_errors() -> None:
    _, values = to_driver_query(
        "SELECT {b:Bool}, {d:Decimal(18,12)}, {n:Nullable(String)}, {t:Array(Array(UInt8))}",
        {"b": True, "d": Decimal("1E-12"), "n": None, "t": ((1, 2), [3])},
    )
    assert values == {"b": 1, "d": "0.000000000001", "n": None, "t": [[1, 2], [3]]}
    with pytest.raises(PermanentError, match="'x' was not set"):
        to_driver_query("SELECT {x:String}", {})
    with pytest.raises(PermanentError, match="unsupported value of type object"):
        to_driver_query("SELECT {x:String}", {"x": object()})


@pytest.mark.parametrize("value", [*TRICKY, "%s", "%(x)s", "100%", "\x01\x07\x1b\b\f\v"])
def test_strings_render_like_server_side_parameters(client: ChdbClient, value: str) -> None:
    sql = "SELECT {s:String} AS s, {a:Array(String)} AS a, {s:String} IN {a:Array(String)} AS i"
    params = {"s": value, "a": [value, "x"]}
    expected = [{"s": value, "a": [value, "x"], "i": 1}]
    assert client.select(sql, params) == expected
    assert client.select(render(sql, params)) == expected


@pytest.mark.parametrize(
    ("sql", "params"),
    [
        ("SELECT {i:Int64} AS i, {u:UInt64} AS u, {f:Float64} AS f", {"i": -5, "u": 2**64 - 1,
                                                                      "f": 1.25}),
        ("SELECT {b:Bool} AS b, {c:Bool} AS c", {"b": True, "c": False}),
        ("SELECT toString({d:Decimal(18, 12)}) AS d", {"d": "0.006525000001"}),
        ("SELECT toUnixTimestamp64Micro({t:DateTime64(6)}) AS t", {"t": "1763770000.000001"}),
        ("SELECT fromUnixTimestamp64Micro({t:Int64}) < now64() AS t", {"t": BASE_US}),
        ("SELECT number FROM numbers(20) LIMIT {limit:UInt32} OFFSET {offset:UInt64}",
         {"limit": 3, "offset": 5}),
        ("SELECT number FROM numbers(5) WHERE toString(number) IN {ids:Array(String)}",
         {"ids": ("1", "3")}),
        ("SELECT hasAll(['a'], {tags:Array(String)}) AS h, {e:Array(String)} AS e",
         {"tags": [], "e": []}),
        ("SELECT {n:Nullable(String)} AS n, isNull({n:Nullable(String)}) AS z", {"n": None}),
        ("SELECT 'x%' LIKE '%%' AS l, {p:String} AS p", {"p": "50%"}),
    ],
)  # fmt: skip
def test_typed_parameters_render_equivalently(
    client: ChdbClient, sql: str, params: dict[str, Any]
) -> None:
    assert client.select(render(sql, params)) == client.select(sql, params)


Seeded = tuple[str, list[str], list[ObservationRecord]]


@pytest.fixture
def seeded(client: ChdbClient, project_id: str) -> Iterator[Seeded]:
    writer = ClickHouseWriter(client, database=DATABASE)
    traces = [new_id(32) for _ in range(3)]
    batch = []
    for n, tid in enumerate(traces):
        meta = {"user_id": f"u'{n}", "session_id": "s\\1", "tags": ["a", f"t{n}"], "is_root": True}
        batch.append(generation(project_id, tid, start_us=BASE_US + n * 1_000_000, trace=meta))
        batch.append(record(project_id, tid, name="child %s", start_us=BASE_US + n * 1_000_000 + 7))
    writer.write_observations(batch)
    yield project_id, traces, batch


def test_repository_and_writer_queries_render_equivalently(
    client: ChdbClient, seeded: Seeded
) -> None:
    project_id, traces, batch = seeded
    plain = Repository(client, database=DATABASE)
    rendered_client = ClientSideParams(client)
    rendered = Repository(rendered_client, database=DATABASE)
    page = PageRequest(page=1, limit=2)
    trace_filters = [
        TraceFilter(),
        TraceFilter(user_id="u'1", session_id="s\\1", tags=("a",), environments=("production",)),
        TraceFilter(from_us=BASE_US, to_us=BASE_US + 1_500_000, order_field="userId"),
        TraceFilter(name="no'such\nname", version="v7", release="2025.11.1", descending=False),
    ]
    for flt in trace_filters:
        assert list_traces(rendered, project_id, flt, page) == list_traces(
            plain, project_id, flt, page
        )
    observation_filters = [
        ObservationFilter(),
        ObservationFilter(name="child %s", type="SPAN", trace_id=traces[0]),
        ObservationFilter(user_id="u'2", level="WARNING", environments=("production", "x")),
        ObservationFilter(from_start_us=BASE_US + 1, to_start_us=BASE_US + 2_000_000, version="v7"),
    ]
    for oflt in observation_filters:
        assert list_observations(rendered, project_id, oflt, page) == list_observations(
            plain, project_id, oflt, page
        )
    assert get_trace(rendered, project_id, traces[1]) == get_trace(plain, project_id, traces[1])
    detail = get_trace(plain, project_id, traces[1])
    assert detail is not None and len(detail.observations) == 2
    observation_id = detail.observations[0]["id"]
    assert get_observation(rendered, project_id, observation_id) == get_observation(
        plain, project_id, observation_id
    )

    # the writer's own lookups (trace states, stored hashes) through rendered SQL: a redelivery
    # of the same records must be recognised and write nothing
    count = "SELECT count() AS n FROM {db}.{table} WHERE project_id = {{p:String}}"
    raw = {
        table: client.select(count.format(db=DATABASE, table=table), {"p": project_id})
        for table in ("observations", "traces")
    }
    statements = rendered_client.statements
    ClickHouseWriter(rendered_client, database=DATABASE, trace_cache_size=0).write_observations(
        batch
    )
    assert rendered_client.statements == statements + 2  # trace states + stored observations
    for table, before in raw.items():
        assert client.select(count.format(db=DATABASE, table=table), {"p": project_id}) == before
