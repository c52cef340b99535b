"""Signed, expiring upload and download URLs for media kept in the local blob store, where no
S3 server can presign them: otelfuse serves ``PUT /api/public/media/{mediaId}/upload`` and
``GET /api/public/media/{mediaId}/download`` itself, authorised by a token in the query string,
as Langfuse's local media storage does (langfuse/langfuse
``web/src/features/media/server/localMediaStorage.ts``: an HMAC-SHA256-signed payload with the
project, media id, blob key, content type, length, SHA-256 and expiry).

Tokens are made with itsdangerous (``URLSafeTimedSerializer``: JSON payload, timestamp and
HMAC signature, https://itsdangerous.palletsprojects.com/en/stable/url_safe/), one salt per
action so an upload token never authorises a download or the reverse.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from itsdangerous import BadData, SignatureExpired, URLSafeTimedSerializer

from storage.errors import BadRequest

__all__ = ["Action", "MediaGrant", "MediaTokens"]

Action = Literal["upload", "download"]


@dataclass(frozen=True, slots=True)
class MediaGrant:
    """What a token allows: ``action`` on the blob ``key`` of media ``media_id`` of
    ``project_id``, whose content must be ``content_length`` bytes of ``content_type`` with
    SHA-256 ``sha256_hash`` (base64)."""

    project_id: str
    media_id: str
    key: str
    content_type: str
    content_length: int
    sha256_hash: str


class MediaTokens:
    """Makes and checks media tokens with the secret ``key`` (bytes, at least 32)."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("the media signing key needs at least 32 bytes")
        self._serializers = {
            action: URLSafeTimedSerializer(key, salt=f"otelfuse-media-{action}")
            for action in ("upload", "download")
        }

    def sign(self, action: Action, grant: MediaGrant) -> str:
        """A token for ``action`` on ``grant`` (checked against a maximum age by ``verify``)."""
        payload = [
            grant.project_id,
            grant.media_id,
            grant.key,
            grant.content_type,
            grant.content_length,
            grant.sha256_hash,
        ]
        return str(self._serializers[action].dumps(payload))

    def verify(self, action: Action, token: str, media_id: str, max_age_s: int) -> MediaGrant:
        """The grant of a valid ``token`` for ``action`` on ``media_id``.

        Raises:
            BadRequest: the token is missing, forged, for another action or media, or older
                than ``max_age_s`` seconds.
        """
        if not token:
            raise BadRequest("missing media token")
        try:
            payload: Any = self._serializers[action].loads(token, max_age=max_age_s)
        except SignatureExpired:
            raise BadRequest("media token expired") from None
        except BadData:
            raise BadRequest("invalid media token") from None
        grant = MediaGrant(*payload)
        if grant.media_id != media_id:
            raise BadRequest("media token does not match the request")
        return grant
