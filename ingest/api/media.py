"""Langfuse's media API: multi-modal content (images, audio, files) uploaded by the SDKs and
referenced from trace and observation fields as ``@@@langfuseMedia:type=…|id=…|source=…@@@``
(langfuse/langfuse ``fern/apis/server/definition/media.yml``; handlers
``web/src/pages/api/public/media/index.ts`` and ``[mediaId].ts`` over
``web/src/features/media/server/mediaService.ts``; the client is the Python SDK's
``langfuse/_task_manager/media_manager.py``).

Routes (``Authorization: Basic``, scoped to the key's project, except the two token routes):

- ``POST /api/public/media`` ``{traceId, observationId?, contentType, contentLength,
  sha256Hash, field}`` -> 201 ``{mediaId, uploadUrl}``. ``mediaId`` is the first 22 characters
  of the URL-safe base64 SHA-256 (the SDK derives the same and cancels the upload on a
  mismatch). When the project already holds that content, uploaded, with that content type,
  ``uploadUrl`` is null; the trace/observation field link is recorded either way.
- the upload: a presigned S3 ``PUT`` (the SDK sends ``Content-Type``,
  ``x-amz-checksum-sha256`` and ``x-ms-blob-type``), or with the local store
  ``PUT /api/public/media/{mediaId}/upload?token=…``: the token (``ingest.api.media_tokens``)
  fixes the content type, length and SHA-256; a body that differs is refused (400, or 413 when
  longer) and nothing is stored (Langfuse's ``[mediaId]/upload.ts``). A good upload marks the
  record uploaded.
- ``PATCH /api/public/media/{mediaId}`` ``{uploadedAt, uploadHttpStatus, uploadHttpError?,
  uploadTimeMs?}`` -> 200: the SDK reports the upload. A reported success is checked against
  the blob store (the object must exist with ``contentLength`` bytes); otherwise the record is
  marked failed and the answer is 400.
- ``GET /api/public/media/{mediaId}`` -> ``{mediaId, contentType, contentLength, uploadedAt,
  url, urlExpiry}`` with a presigned download URL (local store:
  ``GET /api/public/media/{mediaId}/download?token=…``); 404 when unknown, not uploaded yet or
  the upload failed (Langfuse's messages).

Errors are ``{"message": ...}`` (``ingest/errors.py``): 400 invalid body (the message names the
field, content types and fields as Langfuse lists them), 401, 404, 413, 503 + ``Retry-After``
when PostgreSQL or the blob store is unavailable.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute

from ingest.api.media_tokens import Action, MediaGrant, MediaTokens
from ingest.api.media_types import CONTENT_TYPES, FIELDS, MediaConfig
from ingest.errors import HTTPError
from ingest.http.auth import authenticate
from ingest.http.body import read_json, stream_body
from ingest.http.openapi import (
    STRING,
    WRITE_ERROR_TEXTS,
    DocumentedRoute,
    Operation,
    Schema,
    closed_object,
    error_responses,
    path_param,
    query_param,
)
from ingest.http.responses import JSONResponse
from storage.auth import KeyStore
from storage.blobs import BlobStore, LocalBlobStore
from storage.errors import BadRequest
from storage.postgres.media import MediaRecord, MediaRepository, NewMedia
from storage.query import schemas
from storage.query.values import iso_time, parse_timestamp

__all__ = ["MEDIA_PATH", "OPERATIONS", "Media", "media_id_of"]

MEDIA_PATH = "/api/public/media"
MAX_MEDIA_BODY_BYTES = 64 * 1024
"""Largest JSON body of ``POST`` / ``PATCH`` (a few hundred bytes are expected)."""

_SHA256 = re.compile(r"^[A-Za-z0-9+/=]{44}$")
_LOCAL_BUCKET = "local"


def media_id_of(sha256_hash: str) -> str:
    """The media id of content with SHA-256 ``sha256_hash`` (base64): its URL-safe form cut to
    22 characters (132 bits), as Langfuse's ``getMediaId`` and the SDK's
    ``LangfuseMedia._get_media_id``."""
    return sha256_hash.replace("+", "-").replace("/", "_")[:22]


@dataclass(frozen=True, slots=True)
class UploadRequest:
    """A validated ``POST /api/public/media`` body."""

    trace_id: str
    observation_id: str | None
    content_type: str
    content_length: int
    sha256_hash: str
    field: str


def _text(body: dict[str, Any], name: str, *, optional: bool = False) -> str | None:
    value = body.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value or len(value) > 512:
        raise BadRequest(f"{name} must be a string of 1-512 characters")
    return value


def _integer(body: dict[str, Any], name: str) -> int:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise BadRequest(f"{name} must be a positive integer")
    return value


def parse_upload_request(body: Any, max_content_length: int) -> UploadRequest:
    """Validate a ``POST /api/public/media`` body (Langfuse's ``GetMediaUploadUrlQuerySchema``
    in ``web/src/features/media/validation.ts``).

    Raises:
        BadRequest: a field is missing or invalid; the message says which and why.
    """
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    if body.get("datasetId") or body.get("datasetItemId"):
        raise BadRequest("media of dataset items is not supported; give traceId")
    trace_id = _text(body, "traceId")
    observation_id = _text(body, "observationId", optional=True)
    content_type = body.get("contentType")
    if content_type not in CONTENT_TYPES:
        raise BadRequest(f"Invalid content type. Only supporting {', '.join(CONTENT_TYPES)}")
    content_length = _integer(body, "contentLength")
    if content_length > max_content_length:
        raise BadRequest(f"File size must be less than {max_content_length} bytes")
    sha256_hash = body.get("sha256Hash")
    if not isinstance(sha256_hash, str) or not _SHA256.match(sha256_hash):
        raise BadRequest("sha256Hash: Must be a 44 character base64 encoded SHA-256 hash")
    field = body.get("field")
    if field not in FIELDS:
        raise BadRequest(f"Invalid field. Only supporting {', '.join(FIELDS)}")
    assert trace_id is not None
    return UploadRequest(
        trace_id, observation_id, str(content_type), content_length, sha256_hash, str(field)
    )


@dataclass(frozen=True, slots=True)
class UploadReport:
    """A validated ``PATCH /api/public/media/{mediaId}`` body."""

    uploaded_at: datetime
    status: int
    error: str | None


def parse_upload_report(body: Any) -> UploadReport:
    """Validate a ``PATCH`` body (Langfuse's ``PatchMediaBodySchema``).

    Raises:
        BadRequest: a field is missing or invalid.
    """
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    uploaded = body.get("uploadedAt")
    if not isinstance(uploaded, str):
        raise BadRequest("uploadedAt must be an ISO-8601 date-time")
    micros = parse_timestamp(uploaded, "uploadedAt")
    status = _integer(body, "uploadHttpStatus")
    error = body.get("uploadHttpError")
    if error is not None and not isinstance(error, str):
        raise BadRequest("uploadHttpError must be a string or null")
    time_ms = body.get("uploadTimeMs")
    if time_ms is not None and (isinstance(time_ms, bool) or not isinstance(time_ms, int | float)):
        raise BadRequest("uploadTimeMs must be a number or null")
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)
    return UploadReport(moment, status, error[:2000] if error else None)


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return iso_time(int((moment - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1)))


_MEDIA_ID = path_param("mediaId", "the media id (from POST /api/public/media)")
_TOKEN = {**query_param("token", STRING, "the signed token of the URL"), "required": True}
_UPLOAD_REQUEST: Schema = closed_object(
    {
        "traceId": {"type": "string", "minLength": 1},
        "observationId": {"type": ["string", "null"]},
        "contentType": {"type": "string", "enum": list(CONTENT_TYPES)},
        "contentLength": {"type": "integer", "minimum": 1},
        "sha256Hash": {"type": "string", "pattern": _SHA256.pattern},
        "field": {"type": "string", "enum": list(FIELDS)},
    },
    required=["traceId", "contentType", "contentLength", "sha256Hash", "field"],
)
_UPLOAD_REPORT: Schema = closed_object(
    {
        "uploadedAt": {"type": "string", "format": "date-time"},
        "uploadHttpStatus": {"type": "integer", "minimum": 1},
        "uploadHttpError": {"type": ["string", "null"]},
        "uploadTimeMs": {"type": ["number", "null"]},
    },
    required=["uploadedAt", "uploadHttpStatus"],
)


def _json_body(schema: Schema) -> Schema:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: str) -> dict[str, Any]:
    return error_responses(codes, WRITE_ERROR_TEXTS)


_EMPTY = {"description": "done (empty body)"}

OPERATIONS = {
    "create": Operation(
        "post",
        MEDIA_PATH,
        "Get an upload URL for media (null when already uploaded); records the field link",
        {
            "201": (schemas.GetMediaUploadUrlResponse, "the media id and upload URL"),
            **_errors("400", "401", "413", "500", "503"),
        },
        request_body=_json_body(_UPLOAD_REQUEST),
    ),
    "get": Operation(
        "get",
        f"{MEDIA_PATH}/{{mediaId}}",
        "A media record with a download URL",
        {
            "200": (schemas.GetMediaResponse, "the record"),
            **_errors("401", "404", "500", "503"),
        },
        [_MEDIA_ID],
    ),
    "patch": Operation(
        "patch",
        f"{MEDIA_PATH}/{{mediaId}}",
        "Report the outcome of an upload",
        {"200": _EMPTY, **_errors("400", "401", "404", "413", "500", "503")},
        [_MEDIA_ID],
        request_body=_json_body(_UPLOAD_REPORT),
    ),
    "upload": Operation(
        "put",
        f"{MEDIA_PATH}/{{mediaId}}/upload",
        "Upload media bytes to the local blob store (the URL comes from POST /media)",
        {"200": _EMPTY, **_errors("400", "404", "413", "503")},
        [_MEDIA_ID, _TOKEN],
        request_body={"required": True, "content": {"*/*": {"schema": {}}}},
        public=True,
    ),
    "download": Operation(
        "get",
        f"{MEDIA_PATH}/{{mediaId}}/download",
        "Download media bytes from the local blob store (the URL comes from GET /media/{id})",
        {
            "200": {"description": "the bytes", "content": {"*/*": {"schema": {}}}},
            **_errors("400", "404", "503"),
        },
        [_MEDIA_ID, _TOKEN],
        public=True,
    ),
}
"""The documented operations, by handler name."""


class Media:
    """The media routes over ``repo`` (PostgreSQL) and ``store`` (blobs); ``tokens`` sign the
    local store's URLs."""

    def __init__(
        self,
        repo: MediaRepository,
        store: BlobStore,
        keys: KeyStore,
        config: MediaConfig,
        tokens: MediaTokens,
    ) -> None:
        self.repo = repo
        self.store = store
        self.keys = keys
        self.config = config
        self.tokens = tokens
        self.local = store if isinstance(store, LocalBlobStore) else None
        self.bucket = _LOCAL_BUCKET if self.local else str(getattr(store, "bucket", store.kind))

    def routes(self) -> list[BaseRoute]:
        """POST, GET and PATCH; with the local store also the token upload and download."""
        path = f"{MEDIA_PATH}/{{media_id}}"
        routes: list[BaseRoute] = [
            DocumentedRoute(MEDIA_PATH, self.create, OPERATIONS["create"]),
            DocumentedRoute(path, self.get, OPERATIONS["get"]),
            DocumentedRoute(path, self.patch, OPERATIONS["patch"]),
        ]
        if self.local is not None:
            routes += [
                DocumentedRoute(
                    f"{MEDIA_PATH}/{{media_id}}/upload", self.upload, OPERATIONS["upload"]
                ),
                DocumentedRoute(
                    f"{MEDIA_PATH}/{{media_id}}/download", self.download, OPERATIONS["download"]
                ),
            ]
        return routes

    def _granted(self, request: Request, action: Action, max_age_s: int) -> MediaGrant:
        """The grant of the request's ``token`` for ``action`` on its media id."""
        token = request.query_params.get("token", "")
        return self.tokens.verify(action, token, request.path_params["media_id"], max_age_s)

    def _local_url(self, request: Request, action: Action, grant: MediaGrant) -> str:
        token = self.tokens.sign(action, grant)
        base = str(request.base_url).rstrip("/")
        return f"{base}{MEDIA_PATH}/{grant.media_id}/{action}?token={token}"

    async def create(self, request: Request) -> Response:
        """Register media and answer where to upload it (module docstring)."""
        project = await authenticate(self.keys, request)
        ask = parse_upload_request(
            await read_json(request, MAX_MEDIA_BODY_BYTES), self.config.max_content_length
        )
        existing = await self.repo.find_by_hash(project.id, ask.sha256_hash)
        media_id = existing.id if existing is not None else media_id_of(ask.sha256_hash)
        upload_url: str | None = None
        if not (
            existing is not None
            and existing.upload_http_status in (200, 201)
            and existing.content_type == ask.content_type
        ):
            key = f"{project.id}/{media_id}.{CONTENT_TYPES[ask.content_type]}"
            expiry = timedelta(seconds=self.config.upload_url_expiry_s)
            upload_url = await self.store.presign_put(key, ask.content_type, expiry)
            if upload_url is None:
                grant = MediaGrant(
                    project.id, media_id, key, ask.content_type, ask.content_length, ask.sha256_hash
                )
                upload_url = self._local_url(request, "upload", grant)
            await self.repo.upsert(
                NewMedia(
                    project_id=project.id,
                    media_id=media_id,
                    sha256_hash=ask.sha256_hash,
                    bucket_name=self.bucket,
                    bucket_path=key,
                    content_type=ask.content_type,
                    content_length=ask.content_length,
                )
            )
        await self.repo.link(
            project.id,
            media_id,
            trace_id=ask.trace_id,
            observation_id=ask.observation_id,
            field=ask.field,
        )
        shape = schemas.GetMediaUploadUrlResponse(upload_url=upload_url, media_id=media_id)
        return JSONResponse(schemas.as_json(shape), status_code=201)

    async def get(self, request: Request) -> Response:
        """The record with a download URL (module docstring)."""
        project = await authenticate(self.keys, request)
        media_id = request.path_params["media_id"]
        record = await self.repo.get(project.id, media_id)
        if record is None:
            raise HTTPError(404, "Media asset not found")
        if record.upload_http_status is None:
            raise HTTPError(404, "Media not yet uploaded")
        if record.upload_http_status not in (200, 201):
            raise HTTPError(
                404,
                f"Media upload failed with status {record.upload_http_status}: \n "
                f"{record.upload_http_error}",
            )
        ttl = self.config.download_url_expiry_s
        url = await self.store.presign_get(record.bucket_path, timedelta(seconds=ttl))
        if url is None:
            url = self._local_url(request, "download", _grant(record))
        expiry = datetime.now(UTC) + timedelta(seconds=ttl)
        shape = schemas.GetMediaResponse(
            media_id=record.id,
            content_type=record.content_type,
            content_length=record.content_length,
            uploaded_at=_iso(record.uploaded_at),
            url=url,
            url_expiry=expiry.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        )
        return JSONResponse(schemas.as_json(shape))

    async def patch(self, request: Request) -> Response:
        """Store the SDK's report of an upload (module docstring).

        Raises:
            HTTPError: 404 unknown media; 400 a reported success whose object is missing or
                has another size.
        """
        project = await authenticate(self.keys, request)
        media_id = request.path_params["media_id"]
        report = parse_upload_report(await read_json(request, MAX_MEDIA_BODY_BYTES))
        record = await self.repo.get(project.id, media_id)
        if record is None:
            raise HTTPError(404, f"Media asset {media_id} not found in project {project.id}")
        status, error = report.status, report.error
        if status in (200, 201):
            stored = await self.store.stat(record.bucket_path)
            if stored is None or stored.size != record.content_length:
                status = 400
                error = f"the stored object is not the announced {record.content_length} bytes"
        await self.repo.record_upload(
            project.id, media_id, uploaded_at=report.uploaded_at, status=status, error=error
        )
        if status != report.status:
            raise HTTPError(400, f"upload of media {media_id} not confirmed: {error}")
        return Response(status_code=200)

    async def upload(self, request: Request) -> Response:
        """Receive the bytes of a local-store upload URL (module docstring).

        Raises:
            BadRequest: bad token, or type, length or SHA-256 differ from the signed ones;
            PayloadTooLarge: the body is longer than signed; HTTPError: 404 unknown media.
        """
        assert self.local is not None
        media_id = request.path_params["media_id"]
        grant = self._granted(request, "upload", self.config.upload_url_expiry_s)
        content_type = request.headers.get("content-type", "").split(";")[0].strip()
        if content_type != grant.content_type:
            raise BadRequest("Content-Type does not match signed upload")
        declared = request.headers.get("content-length")
        if declared is not None and declared != str(grant.content_length):
            raise BadRequest("Content-Length does not match signed upload")
        record = await self.repo.get(grant.project_id, media_id)
        if record is None or record.bucket_path != grant.key:
            raise HTTPError(404, "Media asset not found")
        try:
            expected = base64.b64decode(grant.sha256_hash, validate=True)
        except binascii.Error:
            raise BadRequest("invalid media token") from None

        def verify(size: int, digest: bytes) -> None:
            if size != grant.content_length:
                raise BadRequest("Content-Length does not match signed upload")
            if digest != expected:
                raise BadRequest("SHA-256 hash does not match signed upload")

        await self.local.put_stream(grant.key, stream_body(request, grant.content_length), verify)
        await self.repo.record_upload(
            grant.project_id, media_id, uploaded_at=datetime.now(UTC), status=200, error=None
        )
        return Response(status_code=200)

    async def download(self, request: Request) -> Response:
        """Send the bytes of a local-store download URL.

        Raises:
            BadRequest: bad token; HTTPError: 404 the blob is gone.
        """
        assert self.local is not None
        grant = self._granted(request, "download", self.config.download_url_expiry_s)
        if await self.local.stat(grant.key) is None:
            raise HTTPError(404, "Media asset not found")
        return FileResponse(self.local.path(grant.key), media_type=grant.content_type)


def _grant(record: MediaRecord) -> MediaGrant:
    return MediaGrant(
        record.project_id,
        record.id,
        record.bucket_path,
        record.content_type,
        record.content_length,
        record.sha256_hash,
    )
