"""Storage notifications (a GCS object resource, a Pub/Sub push message) as ``ObjectNotice``
values, and the object resource kscribe posts for its own uploads."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from kscribe.storage import BlobInfo, join
from kscribe.values import ObjectNotice

# Set by kscribe on everything it writes, so its own objects never become jobs.
META_ROLE = "kscribe-role"


def notice_from_storage_object(data: dict[str, Any]) -> ObjectNotice:
    """Decode GCS's object resource (the data of an ``object.v1.finalized`` event).

    For the local backend a ``bucket`` that is an absolute directory path plays the bucket.
    """
    try:
        bucket, name = str(data["bucket"]), str(data["name"])
    except KeyError as exc:
        raise ValueError(f"storage notification without {exc.args[0]!r}") from None
    uri = join(bucket, name) if bucket.startswith("/") else f"gs://{bucket}/{name}"
    return ObjectNotice(
        uri=uri,
        generation=str(data.get("generation") or "0"),
        size=int(data.get("size") or 0),
        content_type=str(data.get("contentType") or ""),
        metadata={str(k): str(v) for k, v in (data.get("metadata") or {}).items()},
    )


def notice_of(info: BlobInfo) -> ObjectNotice:
    """The object as storage describes it now."""
    return ObjectNotice(
        uri=info.uri,
        generation=info.generation,
        size=info.size,
        content_type=info.content_type,
        metadata=info.metadata,
    )


def storage_object(bucket: str, name: str, info: BlobInfo) -> dict[str, Any]:
    """GCS's object resource for ``info``, as an ``object.v1.finalized`` event carries it
    (what ``notice_from_storage_object`` reads)."""
    return {
        "bucket": bucket,
        "name": name,
        "generation": info.generation,
        "size": str(info.size),
        "contentType": info.content_type,
        "metadata": info.metadata,
    }


def notice_from_pubsub_message(message: dict[str, Any]) -> ObjectNotice | None:
    """Decode a GCS notification delivered through Pub/Sub (a push envelope's ``message``).

    Returns None for notifications other than OBJECT_FINALIZE (deletes, metadata updates).
    """
    attributes = message.get("attributes") or {}
    if attributes.get("eventType", "OBJECT_FINALIZE") != "OBJECT_FINALIZE":
        return None
    try:
        payload = json.loads(base64.b64decode(message.get("data") or ""))
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"Pub/Sub message data is not a JSON object resource: {exc}") from None
    if not isinstance(payload, dict):
        raise ValueError("Pub/Sub message data is not a JSON object resource")
    payload.setdefault("bucket", attributes.get("bucketId"))
    payload.setdefault("name", attributes.get("objectId"))
    payload.setdefault("generation", attributes.get("objectGeneration"))
    return notice_from_storage_object(payload)
