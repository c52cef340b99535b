"""The OTLP logs receiver over both transports, in process: protobuf, OTLP/JSON and gzip over
HTTP, raw bytes over gRPC; the answers of the trace receiver (ingest/errors.py) and
``partial_success.rejected_log_records`` for what is not a GenAI event."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json

import grpc
import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from prometheus_client import REGISTRY

from ingest.otlp.export import TraceExport
from ingest.otlp.grpc_receiver import create_server
from ingest.otlp.logs_export import LogsExport
from ingest.otlp.logs_grpc import LOGS_SERVICE, logs_handler
from ingest.otlp.logs_http import OTLPHTTPLogsReceiver
from storage.auth import Project, StaticKeyStore, hash_secret
from tests.ingest.mapping.logs import make_log, make_logs_request
from tests.ingest.mapping.spans import SPAN_ID, TRACE_ID
from tests.support.fakes import RecordingSink
from tests.support.http import test_client

AUTH = "Basic " + base64.b64encode(b"pk-1:sk-1").decode()
KEYS = StaticKeyStore([("pk-1", hash_secret("sk-1"), Project("proj-1"))])


def _request() -> ExportLogsServiceRequest:
    return make_logs_request(
        make_log("gen_ai.user.message", body={"content": "What is OTLP?"}),
        make_log("gen_ai.choice", body={"index": 0, "message": {"content": "A protocol."}}),
        make_log(
            "gen_ai.evaluation.result",
            attributes={"gen_ai.evaluation.name": "relevance", "gen_ai.evaluation.score.value": 1},
        ),
        make_log("app.started", body="hello"),
    )


def _refused(transport: str, reason: str) -> float:
    value = REGISTRY.get_sample_value(
        "otelfuse_receiver_refused_log_records_total",
        {"transport": transport, "reason": reason},
    )
    return value or 0.0


def _logs(sink: RecordingSink) -> LogsExport:
    return LogsExport(TraceExport(sink, KEYS, sink), sink)


def _check_stored(sink: RecordingSink) -> None:
    [record] = sink.records
    assert record.from_log and record.id == SPAN_ID.hex() and record.trace_id == TRACE_ID.hex()
    assert json.loads(record.input) == [{"role": "user", "content": "What is OTLP?"}]
    [score] = sink.scores
    assert score.name == "relevance" and score.observation_id == SPAN_ID.hex()


@pytest.mark.parametrize("encoding", ["protobuf", "json", "gzip"])
def test_http_stores_genai_events_and_refuses_the_rest(encoding: str) -> None:
    sink = RecordingSink()
    client = test_client(OTLPHTTPLogsReceiver(_logs(sink), 1 << 20).routes())
    request = _request()
    headers = {"Authorization": AUTH, "Content-Type": "application/x-protobuf"}
    body = request.SerializeToString()
    if encoding == "json":
        headers["Content-Type"] = "application/json"
        document = json_format.MessageToDict(request)
        for record in document["resourceLogs"][0]["scopeLogs"][0]["logRecords"]:
            record["traceId"], record["spanId"] = TRACE_ID.hex(), SPAN_ID.hex()
        body = json.dumps(document).encode()
    elif encoding == "gzip":
        headers["Content-Encoding"] = "gzip"
        body = gzip.compress(body)
    before = _refused("http", "not_genai")
    for path in ("/v1/logs", "/api/public/otel/v1/logs"):
        response = client.post(path, content=body, headers=headers)
        assert response.status_code == 200, response.text
        answer = ExportLogsServiceResponse()
        if encoding == "json":
            json_format.Parse(response.text, answer)
        else:
            answer.ParseFromString(response.content)
        assert answer.partial_success.rejected_log_records == 1
        assert "otelfuse stores GenAI events only" in answer.partial_success.error_message
        _check_stored(sink)
        sink.records.clear()
        sink.scores.clear()
    assert _refused("http", "not_genai") == before + 2


def test_http_answers_like_the_trace_receiver() -> None:
    sink = RecordingSink()
    client = test_client(OTLPHTTPLogsReceiver(_logs(sink), 1 << 20).routes())
    protobuf = {"Content-Type": "application/x-protobuf"}
    assert client.post("/v1/logs", content=b"", headers=protobuf).status_code == 401
    authed = {**protobuf, "Authorization": AUTH}
    assert client.post("/v1/logs", content=b"\xff\xff", headers=authed).status_code == 400
    text = {"Content-Type": "text/plain", "Authorization": AUTH}
    assert client.post("/v1/logs", content=b"x", headers=text).status_code == 415
    sink.room = False
    full = client.post("/v1/logs", content=b"", headers=authed)
    assert full.status_code == 503 and full.headers["Retry-After"] == "1"


def test_grpc_logs_service() -> None:
    asyncio.run(_grpc_scenario())


async def _grpc_scenario() -> None:
    sink = RecordingSink()
    export = TraceExport(sink, KEYS, sink)
    server = create_server(export, "127.0.0.1:0", 1 << 20, (logs_handler(_logs(sink)),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            await _grpc_calls(channel, sink)
    finally:
        await server.stop(None)


async def _grpc_calls(channel: grpc.aio.Channel, sink: RecordingSink) -> None:
    export = channel.unary_unary(
        f"/{LOGS_SERVICE}/Export",
        request_serializer=ExportLogsServiceRequest.SerializeToString,
        response_deserializer=ExportLogsServiceResponse.FromString,
    )
    answer = await export(_request(), metadata=(("authorization", AUTH),))
    assert answer.partial_success.rejected_log_records == 1
    _check_stored(sink)
    raw = channel.unary_unary(f"/{LOGS_SERVICE}/Export")
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await raw(b"\xff\xff", metadata=(("authorization", AUTH),))
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as anonymous:
        await export(_request())
    assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED
