"""Page upload sessions and media tokens in Redis (their keys, Lua scripts and values)."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import uuid
from dataclasses import dataclass

from kscribe.state import keys
from kscribe.state.client import KeyValue
from kscribe.storage import join

# Marks an object made by an upload session: ingest is the one creator of its job.
UPLOAD_TTL_S = 7 * 24 * 3600  # a GCS resumable session lives a week


# How long a page upload holds its slot among the tenant's unfinished jobs before its job is
# made; one never finished gives it back then (a job made later is counted, and refused over
# the tenant's quota, as an API job is).
UPLOAD_SLOT_S = 24 * 3600


MEDIA_TOKEN_TTL_S = 15 * 60


_FILE_NAME = re.compile(r"[^A-Za-z0-9._ -]+")


def safe_file_name(name: str) -> str:
    """The browser's file name, reduced to letters, digits and ``._ -`` (never a path)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _FILE_NAME.sub("_", base).strip(" .")[-120:].strip(" .")
    return cleaned or "upload"


# --- upload records ------------------------------------------------------------------
# Set fields with an expiry in one step; claim an upload's bytes once (api mode).
_PUT = """
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
"""


_CLAIM = """
if redis.call('HGET', KEYS[1], 'state') ~= 'pending' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'receiving')
return 1
"""


_SET_IF = """
if redis.call('HGET', KEYS[1], 'state') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[2])
return 1
"""


_REMEMBER = """
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""


_GET = "return redis.call('GET', KEYS[1])"


def _upload_key(upload_id: str) -> str:
    return keys.upload(upload_id)


def _token_key(token: str) -> str:
    return "kscribe:media-token:" + hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Upload:
    id: str
    tenant: str
    uri: str
    size: int
    content_type: str
    state: str  # pending → receiving → stored (api mode); direct uploads stay pending


class Uploads:
    def __init__(self, client: KeyValue):
        self.redis = client
        self._put = client.register_script(_PUT)
        self._claim = client.register_script(_CLAIM)
        self._set_if = client.register_script(_SET_IF)

    def new(self, tenant_prefix: str, tenant: str, file_name: str, size: int, content_type: str) -> Upload:
        """A pending upload session under ``tenant_prefix`` (the tenant's upload prefix)."""
        upload_id = uuid.uuid4().hex
        uri = join(tenant_prefix, "web", upload_id, safe_file_name(file_name))
        upload = Upload(upload_id, tenant, uri, size, content_type, "pending")
        fields = {"tenant": tenant, "uri": uri, "size": str(size), "content_type": content_type, "state": "pending"}
        self._put(keys=[_upload_key(upload_id)], args=[UPLOAD_TTL_S, *[x for kv in fields.items() for x in kv]])
        return upload

    def get(self, upload_id: str) -> Upload | None:
        raw = self.redis.hgetall(_upload_key(upload_id))
        if not raw:
            return None
        return Upload(upload_id, raw["tenant"], raw["uri"], int(raw["size"]), raw["content_type"], raw["state"])

    def forget(self, upload_id: str) -> None:
        self.redis.pipeline().delete(_upload_key(upload_id)).execute()

    def set_metadata(self, upload_id: str, metadata: dict[str, str]) -> None:
        self.redis.hset(_upload_key(upload_id), "metadata", json.dumps(metadata))

    def metadata(self, upload_id: str) -> dict[str, str]:
        raw = self.redis.hgetall(_upload_key(upload_id)).get("metadata") or "{}"
        return {str(k): str(v) for k, v in json.loads(raw).items()}

    def claim(self, upload_id: str) -> bool:
        """Take the right to receive the upload's bytes (once at a time, never after they are stored)."""
        return bool(self._claim(keys=[_upload_key(upload_id)]))

    def finish(self, upload_id: str, stored: bool) -> None:
        self._set_if(keys=[_upload_key(upload_id)], args=["receiving", "stored" if stored else "pending"])


class MediaTokens:
    """Short-lived bearer-in-the-URL tokens, each bound to one job of one tenant. Only the
    SHA-256 of a token is stored."""

    def __init__(self, client: KeyValue):
        self._set = client.register_script(_REMEMBER)
        self._get = client.register_script(_GET)

    def issue(self, job_id: str, tenant: str) -> str:
        token = secrets.token_urlsafe(32)
        self._set(keys=[_token_key(token)], args=[json.dumps([job_id, tenant]), MEDIA_TOKEN_TTL_S])
        return token

    def resolve(self, token: str) -> tuple[str, str] | None:
        if not re.fullmatch(r"[A-Za-z0-9_-]{43}", token):
            return None
        raw = self._get(keys=[_token_key(token)])
        if not raw:
            return None
        job_id, tenant = json.loads(raw)
        return str(job_id), str(tenant)
