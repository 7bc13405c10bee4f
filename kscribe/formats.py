"""Rendering a transcript as JSON, SRT, VTT, TXT and TSV."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict

from kscribe.values import Segment, Transcript

CONTENT_TYPES = {
    "json": "application/json",
    "srt": "application/x-subrip",
    "vtt": "text/vtt",
    "txt": "text/plain; charset=utf-8",
    "tsv": "text/tab-separated-values; charset=utf-8",
}


def _clock(seconds: float, separator: str) -> str:
    ms = max(0, int(round(seconds * 1000)))
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{ms:03d}"


def _cues(transcript: Transcript) -> list[Segment]:
    return [s for s in transcript.segments if s.text.strip()]


def render_json(t: Transcript) -> str:
    body = {
        "job_id": t.job_id,
        "source": t.source_uri,
        "language": t.language,
        "duration": t.duration_s,
        "model": t.model,
        "task": t.task,
        "text": t.text,
        "segments": [{"id": i, **asdict(s)} for i, s in enumerate(t.segments)],
    }
    return json.dumps(body, ensure_ascii=False, indent=1) + "\n"


def render_srt(t: Transcript) -> str:
    blocks = [
        f"{i}\n{_clock(s.start, ',')} --> {_clock(s.end, ',')}\n{s.text.strip()}\n" for i, s in enumerate(_cues(t), 1)
    ]
    return "\n".join(blocks)


def render_vtt(t: Transcript) -> str:
    blocks = [f"{_clock(s.start, '.')} --> {_clock(s.end, '.')}\n{s.text.strip()}\n" for s in _cues(t)]
    return "WEBVTT\n\n" + "\n".join(blocks)


def render_txt(t: Transcript) -> str:
    return "".join(s.text.strip() + "\n" for s in _cues(t))


def render_tsv(t: Transcript) -> str:
    # Whisper's TSV: integer milliseconds, tabs in text replaced so columns stay columns.
    rows = [
        f"{int(round(s.start * 1000))}\t{int(round(s.end * 1000))}\t{s.text.strip().replace(chr(9), ' ')}"
        for s in _cues(t)
    ]
    return "start\tend\ttext\n" + "".join(r + "\n" for r in rows)


RENDERERS: dict[str, Callable[[Transcript], str]] = {
    "json": render_json,
    "srt": render_srt,
    "vtt": render_vtt,
    "txt": render_txt,
    "tsv": render_tsv,
}
