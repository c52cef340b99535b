"""Langfuse JSON write endpoints in scale-out mode: ``POST /api/public/ingestion`` (or, with
``--scores-only``, ``POST /api/public/scores``) into ``otelfuse receiver`` → Kafka (tansu, memory
storage, 6 partitions) → ``otelfuse processor --query`` → embedded ClickHouse.

Starts the stack in a temporary folder as ``tests/scaleout/conftest.py`` does (tansu, topics,
``migrate``, processor with the query API, receiver; one shared project; product defaults for
batching, ``OTELFUSE_LOG_LEVEL=WARNING``). ``--concurrency`` ``httpx.AsyncClient`` workers post
for ``--warmup`` seconds, the benchmark waits until the processor wrote the warm-up, then the
workers post for ``--seconds``.

- Ingestion mode: each request is a Langfuse batch of ``--traces-per-request`` traces of 5 events
  (trace-create, span-create, generation-create with model gpt-4o, usage and ~1.5 KB of input
  messages, generation-update with endTime and ~1 KB of output, score-create), fresh ids per
  request; answered 207 ``{successes, errors}``. Accepted = success entries with status 201.
- ``--scores-only``: each request is a JSON array of ``--scores-per-request`` scores (4 per
  trace: NUMERIC, NUMERIC with comment, BOOLEAN, CATEGORICAL); answered 202 (or 207 with
  ``accepted``).

Drain: after the load stopped, the time until the processor's counters
``otelfuse_processor_records_total{outcome="success"}`` (observation rows written after the
merge: per trace the span and the generation, whose create and update events travel in one
Kafka message and are folded into one row; trace-create events are trace-only records, not
counted there) and ``otelfuse_processor_scores_total{outcome="success"}`` reach what was
accepted; then a sample of the last requests is read back through the query API (generation
with endTime and cost, its trace with both observations, the score).

CPU per process comes from /proc (user + system). Everything, the load generator included, runs
on the same machine. Prints a JSON report, also written to ``bench/results/``.

    python -m bench.json_ingest --seconds 30 --concurrency 8 --traces-per-request 20
    python -m bench.json_ingest --scores-only --seconds 30 --concurrency 8
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.receiver import cpu_s
from bench.report import save_report
from bench.run_ingest import percentile
from tests.scaleout.conftest import PROJECT, TOPICS, Stack, migrate
from tests.support.kafka import start_broker
from tests.support.postgres import start_postgres
from tests.support.service import Service, start_service

INGESTION_PATH = "/api/public/ingestion"
SCORES_PATH = "/api/public/scores"
PARTITIONS = 6
EVENTS_PER_TRACE = 5
ROWS_PER_TRACE = 2
"""Observation rows the processor writes per trace (span + merged generation)."""
SCORES_PER_SCORED_TRACE = 4
SAMPLE_TRACES = 16
DRAIN_TIMEOUT_S = 600.0

_QUESTION = (
    "Our checkout service returned HTTP 502 for about twelve minutes after the 14:05 deploy. "
    "The gateway logs show TLS handshake failures towards the payments upstream, and the "
    "on-call engineer rolled back at 14:17. Summarise the incident for the status page, list "
    "the probable root causes in order of likelihood, and propose three concrete follow-ups. "
)
_ANSWER = (
    "Summary: between 14:05 and 14:17 checkout requests failed with 502 because the gateway "
    "could not complete TLS handshakes with the payments upstream after the deploy rotated its "
    "trust bundle. Probable causes: an intermediate certificate missing from the new bundle; "
    "a stale SNI override. Follow-ups: add a canary handshake check to the deploy pipeline. "
)


# ---------------------------------------------------------------------------------------------
# Request bodies


def _iso(at: datetime) -> str:
    """``at`` as Langfuse's ISO-8601 UTC text with milliseconds."""
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _envelope(event_type: str, body: dict[str, Any], at: str) -> dict[str, Any]:
    """One ingestion event with a fresh envelope id."""
    return {"id": str(uuid.uuid4()), "timestamp": at, "type": event_type, "body": body}


@dataclass(frozen=True, slots=True)
class TraceIds:
    """Ids of one generated trace, for read-back checks."""

    trace: str
    span: str
    generation: str
    score: str


def _input_messages(seed: int) -> list[dict[str, str]]:
    """About 1.5 KB of chat input."""
    return [
        {"role": "system", "content": "You are an SRE assistant. Answer concisely and precisely."},
        {"role": "user", "content": f"{_QUESTION}{_QUESTION}(ticket #{seed})"},
        {"role": "assistant", "content": "Which time zone are the timestamps in?"},
        {"role": "user", "content": "UTC. Keep the summary under 120 words." * 4},
    ]


def trace_events(seed: int, now: datetime) -> tuple[list[dict[str, Any]], TraceIds]:
    """The 5 ingestion events of one trace (module docstring) and its ids."""
    ids = TraceIds(str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4()))
    t0, t_span, t_end_span = now, now + timedelta(milliseconds=5), now + timedelta(milliseconds=85)
    t_gen, t_first = now + timedelta(milliseconds=90), now + timedelta(milliseconds=540)
    t_end = now + timedelta(milliseconds=1890)
    events = [
        _envelope(
            "trace-create",
            {
                "id": ids.trace,
                "timestamp": _iso(t0),
                "name": "incident-summary",
                "userId": f"user-{seed % 50}",
                "sessionId": f"session-{seed % 200}",
                "tags": ["support", "gpt-4o"],
                "release": "2026.11.3",
                "metadata": {"team": "sre", "tenant": f"tenant-{seed % 7}"},
                "input": {"ticket": seed},
                "environment": "production",
            },
            _iso(t0),
        ),
        _envelope(
            "span-create",
            {
                "id": ids.span,
                "traceId": ids.trace,
                "name": "retrieve-runbooks",
                "startTime": _iso(t_span),
                "endTime": _iso(t_end_span),
                "input": {"query": "checkout 502 TLS handshake payments upstream", "k": 4},
                "output": {"documents": ["rb-112", "rb-348", "pm-2026-10-02", "rb-017"]},
                "metadata": {"index": "runbooks-v3"},
                "environment": "production",
            },
            _iso(t_span),
        ),
        _envelope(
            "generation-create",
            {
                "id": ids.generation,
                "traceId": ids.trace,
                "parentObservationId": ids.span,
                "name": "summarise",
                "startTime": _iso(t_gen),
                "model": "gpt-4o",
                "modelParameters": {"temperature": 0.2, "max_tokens": 400},
                "input": _input_messages(seed),
                "usage": {"input": 820 + seed % 100, "output": 210, "unit": "TOKENS"},
                "metadata": {"prompt": "incident-summary", "prompt_version": 7},
                "environment": "production",
            },
            _iso(t_gen),
        ),
        _envelope(
            "generation-update",
            {
                "id": ids.generation,
                "traceId": ids.trace,
                "endTime": _iso(t_end),
                "completionStartTime": _iso(t_first),
                "output": {"role": "assistant", "content": _ANSWER * 3},
            },
            _iso(t_end),
        ),
        _envelope(
            "score-create",
            {
                "id": ids.score,
                "traceId": ids.trace,
                "observationId": ids.generation,
                "name": "helpfulness",
                "value": (seed % 10) / 10,
                "comment": "auto-eval",
            },
            _iso(t_end),
        ),
    ]
    return events, ids


EventKinds = dict[str, tuple[str, str]]
"""Envelope id → (event type, body id) of one request."""


def ingestion_body(traces: int) -> tuple[bytes, list[TraceIds], EventKinds]:
    """A ``POST /api/public/ingestion`` body of ``traces`` fresh traces, their ids and the
    events' kinds."""
    now = datetime.now(UTC)
    batch: list[dict[str, Any]] = []
    all_ids: list[TraceIds] = []
    for _ in range(traces):
        events, ids = trace_events(int.from_bytes(os.urandom(2)), now)
        batch.extend(events)
        all_ids.append(ids)
    body = {"batch": batch, "metadata": {"sdk_integration": "bench", "batch_size": len(batch)}}
    kinds = {e["id"]: (e["type"], e["body"]["id"]) for e in batch}
    return orjson.dumps(body), all_ids, kinds


def scores_body(scores: int) -> tuple[bytes, list[str]]:
    """A ``POST /api/public/scores`` JSON array of ``scores`` fresh scores (4 per trace), and
    their ids."""
    at = _iso(datetime.now(UTC))
    items: list[dict[str, Any]] = []
    trace_id = ""
    for i in range(scores):
        kind = i % SCORES_PER_SCORED_TRACE
        if kind == 0:
            trace_id = str(uuid.uuid4())
        item: dict[str, Any] = {"id": str(uuid.uuid4()), "traceId": trace_id, "timestamp": at}
        if kind == 0:
            item.update(name="helpfulness", value=0.8, dataType="NUMERIC")
        elif kind == 1:
            item.update(
                name="faithfulness",
                value=0.65,
                comment="two claims not supported by the retrieved runbooks",
                metadata={"judge": "gpt-4o-mini", "rubric": "v2"},
            )
        elif kind == 2:
            item.update(name="contains_pii", value=False, dataType="BOOLEAN")
        else:
            item.update(name="category", value="incident-summary", dataType="CATEGORICAL")
        items.append(item)
    return orjson.dumps(items), [item["id"] for item in items]


# ---------------------------------------------------------------------------------------------
# Load


@dataclass
class Tally:
    """What the workers sent and what the receiver answered."""

    requests: int = 0
    accepted_events: int = 0
    expected_rows: int = 0
    expected_scores: int = 0
    event_errors: dict[int, int] = field(default_factory=dict)
    statuses: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    last_traces: list[TraceIds] = field(default_factory=list)
    last_scores: list[str] = field(default_factory=list)

    def refused(self, status: int) -> None:
        """Count a request answered with an unexpected status."""
        self.statuses[status] = self.statuses.get(status, 0) + 1


def _account_ingestion(tally: Tally, kinds: EventKinds, answer: dict[str, Any]) -> None:
    """Add one 207 answer: accepted events, expected rows and scores, per-event errors."""
    generations: set[str] = set()
    for success in answer["successes"]:
        if success.get("status") != 201:
            continue
        tally.accepted_events += 1
        kind, body_id = kinds[success["id"]]
        if kind == "span-create":
            tally.expected_rows += 1
        elif kind.startswith("generation-"):
            generations.add(body_id)
        elif kind == "score-create":
            tally.expected_scores += 1
    tally.expected_rows += len(generations)
    for error in answer["errors"]:
        status = int(error.get("status", 0))
        tally.event_errors[status] = tally.event_errors.get(status, 0) + 1


def _account_scores(tally: Tally, count: int, response: httpx.Response) -> None:
    """Add one 202/207 answer of the scores endpoint."""
    if response.status_code == 202:
        accepted = count
    else:
        body = response.json()
        accepted = int(body["accepted"])
        tally.event_errors[400] = tally.event_errors.get(400, 0) + int(body["rejected"])
    tally.accepted_events += accepted
    tally.expected_scores += accepted


@dataclass(frozen=True, slots=True)
class LoadShape:
    """What one request holds and where it goes."""

    scores_only: bool
    traces_per_request: int
    scores_per_request: int

    @property
    def events_per_request(self) -> int:
        """Ingestion events (or scores) per request."""
        if self.scores_only:
            return self.scores_per_request
        return self.traces_per_request * EVENTS_PER_TRACE


async def _one_request(
    client: httpx.AsyncClient, auth: str, shape: LoadShape, tally: Tally
) -> None:
    """Build, post and account one request; sleeps ``Retry-After`` on a refusal."""
    headers = {"Authorization": auth, "Content-Type": "application/json"}
    traces: list[TraceIds] = []
    score_ids: list[str] = []
    kinds: EventKinds = {}
    ok: tuple[int, ...]
    if shape.scores_only:
        body, score_ids = scores_body(shape.scores_per_request)
        path, ok = SCORES_PATH, (202, 207)
    else:
        body, traces, kinds = ingestion_body(shape.traces_per_request)
        path, ok = INGESTION_PATH, (207,)
    sent = time.monotonic()
    response = await client.post(path, content=body, headers=headers)
    done = time.monotonic()
    tally.requests += 1
    if response.status_code not in ok:
        tally.refused(response.status_code)
        await asyncio.sleep(float(response.headers.get("retry-after", "1")))
        return
    tally.latencies.append(done - sent)
    if shape.scores_only:
        _account_scores(tally, len(score_ids), response)
        tally.last_scores = score_ids
    else:
        _account_ingestion(tally, kinds, response.json())
        tally.last_traces = traces


async def _load(url: str, auth: str, shape: LoadShape, concurrency: int, seconds: float) -> Tally:
    """``concurrency`` workers posting for ``seconds``; one merged tally (last requests of
    every worker kept for read-back)."""
    tallies = [Tally() for _ in range(concurrency)]
    stop_at = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:

        async def worker(tally: Tally) -> None:
            while time.monotonic() < stop_at:
                await _one_request(client, auth, shape, tally)

        await asyncio.gather(*(worker(t) for t in tallies))
    return _merge(tallies)


def _merge(tallies: list[Tally]) -> Tally:
    """Sum the workers' tallies."""
    total = Tally()
    for t in tallies:
        total.requests += t.requests
        total.accepted_events += t.accepted_events
        total.expected_rows += t.expected_rows
        total.expected_scores += t.expected_scores
        for target, source in ((total.event_errors, t.event_errors), (total.statuses, t.statuses)):
            for key, count in source.items():
                target[key] = target.get(key, 0) + count
        total.latencies.extend(t.latencies)
        total.last_traces.extend(t.last_traces)
        total.last_scores.extend(t.last_scores)
    return total


# ---------------------------------------------------------------------------------------------
# Processor progress and read-back


def processor_counters(processor: Service) -> tuple[float, float]:
    """``(rows, scores)`` written successfully, from the processor's /metrics."""
    text = processor.client.get("/metrics").text

    def value(name: str) -> float:
        match = re.search(rf'^{name}\{{outcome="success"\}} (\S+)$', text, re.MULTILINE)
        return float(match.group(1)) if match else 0.0

    return value("otelfuse_processor_records_total"), value("otelfuse_processor_scores_total")


def wait_written(processor: Service, rows: int, scores: int, timeout: float) -> float | None:
    """Seconds until the processor's counters reach ``rows`` and ``scores`` (None: timeout)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        written_rows, written_scores = processor_counters(processor)
        if written_rows >= rows and written_scores >= scores:
            return time.monotonic() - started
        time.sleep(0.05)
    return None


def _json_or_none(processor: Service, path: str) -> Any:
    response = processor.get(path)
    return response.json() if response.status_code == 200 else None


def trace_complete(processor: Service, ids: TraceIds) -> bool:
    """The trace, its merged generation (endTime, output, cost) and its score are readable."""
    generation = _json_or_none(processor, f"/api/public/observations/{ids.generation}")
    if not generation or generation.get("endTime") is None or not generation.get("output"):
        return False
    if not (generation.get("costDetails") or {}).get("total"):
        return False
    trace = _json_or_none(processor, f"/api/public/traces/{ids.trace}")
    if not trace or len(trace.get("observations", [])) != ROWS_PER_TRACE:
        return False
    return bool(_json_or_none(processor, f"/api/public/v2/scores/{ids.score}"))


def score_readable(processor: Service, score_id: str) -> bool:
    """The score is returned by ``GET /api/public/v2/scores/{id}``."""
    return bool(_json_or_none(processor, f"/api/public/v2/scores/{score_id}"))


def verify_sample(processor: Service, checks: list[Callable[[], bool]], timeout: float) -> int:
    """Poll the checks until all pass or ``timeout`` s; returns how many passed."""
    pending = list(checks)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        pending = [check for check in pending if not check()]
        if pending:
            time.sleep(0.2)
    return len(checks) - len(pending)


def sample_checks(processor: Service, tally: Tally) -> list[Callable[[], bool]]:
    """Read-back checks for up to ``SAMPLE_TRACES`` traces (or scores) of the last requests."""
    step = max(1, len(tally.last_traces) // SAMPLE_TRACES)
    checks: list[Callable[[], bool]] = [
        partial(trace_complete, processor, ids) for ids in tally.last_traces[::step][:SAMPLE_TRACES]
    ]
    step = max(1, len(tally.last_scores) // SAMPLE_TRACES)
    checks += [
        partial(score_readable, processor, score_id)
        for score_id in tally.last_scores[::step][:SAMPLE_TRACES]
    ]
    return checks


# ---------------------------------------------------------------------------------------------
# Stack


def start_json_stack(root: Path, postgres_url: str) -> Stack:
    """tansu with the three topics (``PARTITIONS`` each), migrate (ClickHouse and the empty
    database ``postgres_url``), processor with the query API, receiver; one project
    (``tests.scaleout.conftest.PROJECT``), product batching defaults."""
    broker = start_broker(root / "broker")
    broker.create_topics(*TOPICS, partitions=PARTITIONS)
    project_id, public_key, secret_key = PROJECT
    env = {
        "OTELFUSE_POSTGRES_URL": postgres_url,
        "OTELFUSE_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
        "OTELFUSE_KAFKA_CONSUMER_GROUP": "bench-processor",
        "OTELFUSE_INIT_PROJECT_ID": project_id,
        "OTELFUSE_INIT_PROJECT_PUBLIC_KEY": public_key,
        "OTELFUSE_INIT_PROJECT_SECRET_KEY": secret_key,
    }
    try:
        migrate(root / "processor", env)  # checks the INFO log line naming the migration
        env["OTELFUSE_LOG_LEVEL"] = "WARNING"
        processor = start_service(root / "processor", env, role=("processor", "--query"))
    except BaseException:
        broker.stop()
        raise
    try:
        receiver = start_service(root / "receiver", env, role=("receiver",))
    except BaseException:
        processor.stop()
        broker.stop()
        raise
    return Stack(broker, processor, receiver, env, root)


def stop_json_stack(stack: Stack) -> dict[str, int]:
    """Stop receiver, processor and broker; the services' exit codes."""
    codes = {"receiver": stack.receiver.stop(), "processor": stack.processor.stop()}
    stack.broker.stop()
    return codes


# ---------------------------------------------------------------------------------------------
# Run and report


def cpu_snapshot(stack: Stack) -> dict[str, float]:
    """CPU seconds used so far by each process of the run (the generator is this process)."""
    assert stack.broker.process is not None
    return {
        "receiver": cpu_s(stack.receiver.process.pid),
        "processor": cpu_s(stack.processor.process.pid),
        "broker": cpu_s(stack.broker.process.pid),
        "generator": time.process_time(),
    }


def cores(before: dict[str, float], after: dict[str, float], seconds: float) -> dict[str, float]:
    """Cores used per process between two snapshots ``seconds`` apart."""
    return {name: round((after[name] - before[name]) / seconds, 2) for name in before}


def log_problems(service: Service) -> int:
    """Lines of the service's log at WARNING or above."""
    return sum(
        1 for line in service.log().splitlines() if re.search(r"\b(WARNING|ERROR|CRITICAL)\b", line)
    )


@dataclass
class Run:
    """Measured figures of one run."""

    warmup: Tally
    tally: Tally
    seconds: float
    load_cores: dict[str, float]
    receiver_cpu_s: float
    drain_s: float | None
    drain_cores: dict[str, float]
    written: tuple[float, float]
    verified: int
    sampled: int
    log_problems: dict[str, int]
    exit_codes: dict[str, int] = field(default_factory=dict)


def measure(stack: Stack, shape: LoadShape, concurrency: int, warmup: float, seconds: float) -> Run:
    """Warm up, wait until the warm-up is written, load for ``seconds``, then time the drain."""
    url, auth = stack.receiver.http_url, stack.receiver.authorization
    warm = asyncio.run(_load(url, auth, shape, concurrency, warmup))
    if wait_written(stack.processor, warm.expected_rows, warm.expected_scores, 300) is None:
        raise RuntimeError("the processor did not write the warm-up within 300 s")
    before, started = cpu_snapshot(stack), time.monotonic()
    tally = asyncio.run(_load(url, auth, shape, concurrency, seconds))
    elapsed = time.monotonic() - started
    loaded = cpu_snapshot(stack)
    drain = wait_written(
        stack.processor,
        warm.expected_rows + tally.expected_rows,
        warm.expected_scores + tally.expected_scores,
        DRAIN_TIMEOUT_S,
    )
    drained = cpu_snapshot(stack)
    checks = sample_checks(stack.processor, tally)
    verified = verify_sample(stack.processor, checks, 60)
    return Run(
        warmup=warm,
        tally=tally,
        seconds=elapsed,
        load_cores=cores(before, loaded, elapsed),
        receiver_cpu_s=loaded["receiver"] - before["receiver"],
        drain_s=drain,
        drain_cores=cores(loaded, drained, drain) if drain else {},
        written=processor_counters(stack.processor),
        verified=verified,
        sampled=len(checks),
        log_problems={
            "receiver": log_problems(stack.receiver),
            "processor": log_problems(stack.processor),
        },
    )


def report(args: argparse.Namespace, shape: LoadShape, run: Run, load: str) -> dict[str, Any]:
    """The JSON report of a run."""
    t, unit = run.tally, "scores" if shape.scores_only else "events"
    mode = "--scores-only " if shape.scores_only else ""
    per_request = (
        f"--scores-per-request {shape.scores_per_request}"
        if shape.scores_only
        else f"--traces-per-request {shape.traces_per_request}"
    )
    return {
        "command": f"python -m bench.json_ingest {mode}--seconds {args.seconds:g} "
        f"--concurrency {args.concurrency} {per_request}",
        f"{unit}_per_request": shape.events_per_request,
        "seconds": round(run.seconds, 2),
        "requests": t.requests,
        f"accepted_{unit}": t.accepted_events,
        f"accepted_{unit}_per_s": round(t.accepted_events / run.seconds),
        **(
            {}
            if shape.scores_only
            else {
                "accepted_traces_per_s": round(t.accepted_events / EVENTS_PER_TRACE / run.seconds)
            }
        ),
        "request_latency_p50_ms": round(percentile(t.latencies, 0.5) * 1000, 1),
        "request_latency_p99_ms": round(percentile(t.latencies, 0.99) * 1000, 1),
        "non_2xx_statuses" if shape.scores_only else "non_207_statuses": t.statuses,
        "event_errors_by_status": t.event_errors,
        "receiver_cpu_cores_used": run.load_cores["receiver"],
        f"{unit}_per_s_per_receiver_core": (
            round(t.accepted_events / run.receiver_cpu_s) if run.receiver_cpu_s else None
        ),
        "processor_cpu_cores_used": run.load_cores["processor"],
        "broker_cpu_cores_used": run.load_cores["broker"],
        "generator_cpu_cores_used": run.load_cores["generator"],
        "drain_seconds_after_load": round(run.drain_s, 2) if run.drain_s is not None else None,
        "cpu_cores_used_during_drain": run.drain_cores,
        f"ingest_to_written_{unit}_per_s": (
            round(t.accepted_events / (run.seconds + run.drain_s)) if run.drain_s else None
        ),
        "processor_rows_written_expected": t.expected_rows + run.warmup.expected_rows,
        "processor_scores_written_expected": t.expected_scores + run.warmup.expected_scores,
        "processor_rows_written": int(run.written[0]),
        "processor_scores_written": int(run.written[1]),
        "read_back_sample_ok": f"{run.verified}/{run.sampled}",
        "warmup_accepted": run.warmup.accepted_events,
        "log_lines_warning_or_above": run.log_problems,
        "exit_codes": run.exit_codes,
        "load_before_run": load,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--traces-per-request", type=int, default=20)
    parser.add_argument("--scores-only", action="store_true")
    parser.add_argument("--scores-per-request", type=int, default=100)
    args = parser.parse_args()

    shape = LoadShape(args.scores_only, args.traces_per_request, args.scores_per_request)
    load = Path("/proc/loadavg").read_text().strip()
    postgres = start_postgres()  # the scale-out roles' metadata (OTELFUSE_POSTGRES_URL)
    try:
        with tempfile.TemporaryDirectory(prefix="otelfuse-bench-json-") as tmp:
            stack = start_json_stack(Path(tmp), postgres.create_database("bench"))
            try:
                run = measure(stack, shape, args.concurrency, args.warmup, args.seconds)
            finally:
                codes = stop_json_stack(stack)
            run.exit_codes = codes
    finally:
        postgres.stop()

    result = report(args, shape, run, load)
    print(json.dumps(result, indent=2))
    save_report("json-scores" if shape.scores_only else "json-ingest", result)


if __name__ == "__main__":
    main()
