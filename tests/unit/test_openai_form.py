"""The OpenAI routes' multipart parsing: streamed to disk, capped while streaming."""

from __future__ import annotations

import pytest

from kscribe.api.routes.openai import OpenAiError, parse_multipart, safe_filename, wait_seconds

BOUNDARY = "xyz"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


def body(file_bytes: bytes, **fields: str) -> bytes:
    parts = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()
    ]
    parts.append(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="../../a b.mp4"\r\n'
        "Content-Type: video/mp4\r\n\r\n".encode()
        + file_bytes
        + b"\r\n"
    )
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def pieces(data: bytes, size: int = 1000):
    sent = []

    def chunks():
        for i in range(0, len(data), size):
            sent.append(size)
            yield data[i : i + size]

    return chunks, sent


def test_the_file_is_spooled_to_disk_with_its_fields(tmp_path):
    payload = bytes(range(256)) * 400
    chunks, _ = pieces(body(payload, model="whisper-1", response_format="srt"))
    upload = parse_multipart(CONTENT_TYPE, chunks, 10**6, tmp_path)
    assert upload.path is not None and upload.path.read_bytes() == payload
    assert upload.one("model") == "whisper-1" and upload.one("response_format") == "srt"
    assert upload.filename == "a_b.mp4" and upload.content_type == "video/mp4"


def test_an_upload_over_the_cap_is_refused_while_streaming_and_leaves_nothing(tmp_path):
    chunks, sent = pieces(body(b"x" * 50_000, model="whisper-1"))
    with pytest.raises(OpenAiError) as refused:
        parse_multipart(CONTENT_TYPE, chunks, 10_000, tmp_path)
    assert refused.value.status == 413
    assert len(sent) <= 11, "reading stops once the cap is passed"
    assert list(tmp_path.iterdir()) == []


def test_a_body_without_a_file_or_not_multipart_is_a_400(tmp_path):
    with pytest.raises(OpenAiError) as missing:
        parse_multipart(CONTENT_TYPE, pieces(f"--{BOUNDARY}--\r\n".encode())[0], 10**6, tmp_path)
    assert missing.value.status == 400 and missing.value.param == "file"
    with pytest.raises(OpenAiError):
        parse_multipart("application/json", pieces(b"{}")[0], 10**6, tmp_path)


def test_names_and_waits():
    assert safe_filename("C:\\x\\..\\talk\u202e.mp4") == "talk.mp4"
    assert safe_filename("...") == "audio"
    assert wait_seconds("", 120) == 120 and wait_seconds("respond-async, wait=5", 120) == 5
    assert wait_seconds("wait=500", 120) == 120
