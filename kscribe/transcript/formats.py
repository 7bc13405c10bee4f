"""Rendering a transcript as JSON, SRT, VTT, ASS, TXT and TSV.

JSON and TSV keep Whisper's segments (JSON with every word); SRT, VTT and ASS show the cues
``subtitles.shape`` makes of them, TXT a sentence a line (``subtitles.text_lines``). SRT and VTT are written here (a few lines each):
pysubs2's writers number SRT cues from 1 only, read ``{…}`` in spoken text as override tags
and drop it, and do not escape ``&`` and ``<`` for VTT. ASS, whose header and style table are
more than a few lines, is pysubs2's; the tests read every format back with pysubs2.

Speakers (``Segment.speaker``/``Word.speaker``, set by a channel-split or diarized job) show
in every format, and only where set: JSON carries ``speaker`` on segments and words; VTT
wraps a cue in a voice span (``<v Speaker 1>…</v>``); ASS puts it in the event's Name field;
SRT and TXT start the first cue of each turn with ``[Speaker 1]`` (not again while the same
speaker goes on); TSV gains a fourth column, ``speaker``, after ``text`` (so readers of the
three Whisper columns keep working) when any segment has a speaker, and only then. A cue
never spans two speakers (``subtitles.shape`` cuts at every change).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from kscribe.choices import Shaping
from kscribe.transcript.subtitles import Cue, shape, text_lines
from kscribe.values import Transcript

CONTENT_TYPES = {
    "json": "application/json",
    "srt": "application/x-subrip",
    "vtt": "text/vtt",
    "ass": "text/x-ssa; charset=utf-8",
    "txt": "text/plain; charset=utf-8",
    "tsv": "text/tab-separated-values; charset=utf-8",
}


def _clock(seconds: float, separator: str) -> str:
    ms = max(0, int(round(seconds * 1000)))
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{ms:03d}"


def _cues(t: Transcript, shaping: Shaping, labels: bool = False) -> list[Cue]:
    return shape([s for s in t.segments if s.text.strip()], shaping, labels)


def _without_empty_speaker(segment: dict[str, Any]) -> dict[str, Any]:
    """A segment as JSON: ``speaker`` only where the job asked for speakers, ``language``
    only where it is known."""
    if not segment.get("language"):
        segment.pop("language", None)
    if not segment.get("speaker"):
        segment.pop("speaker", None)
        for word in segment["words"]:
            word.pop("speaker", None)
    return segment


def render_json(t: Transcript, shaping: Shaping | None = None) -> str:
    body = {
        "job_id": t.job_id,
        "source": t.source_uri,
        "language": t.language,
        "duration": t.duration_s,
        "model": t.model,
        "task": t.task,
        **({"audio_track": t.audio_track} if t.audio_track else {}),
        **({"coverage": t.coverage} if t.coverage else {}),
        "text": t.text,
        "segments": [{"id": i, **_without_empty_speaker(asdict(s))} for i, s in enumerate(t.segments)],
    }
    return json.dumps(body, ensure_ascii=False, indent=1) + "\n"


def _srt_text(text: str) -> str:
    # A blank line ends a cue and "-->" marks a timing line: neither may be in its text.
    return "\n".join(line.replace("-->", "->") for line in text.splitlines() if line.strip())


def render_srt(t: Transcript, shaping: Shaping | None = None) -> str:
    shaping = shaping or Shaping()
    blocks = [
        f"{i}\n{_clock(c.start, ',')} --> {_clock(c.end, ',')}\n{_srt_text(c.text)}\n"
        for i, c in enumerate(_cues(t, shaping, labels=True), shaping.srt_start_index)
    ]
    return "\n".join(blocks)


def _vtt_escape(text: str) -> str:
    # WebVTT cue text: & and < start entities and tags (and > ends a tag's annotation).
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _vtt_text(cue: Cue) -> str:
    text = _vtt_escape(_srt_text(cue.text))
    if not cue.speaker:
        return text
    # A voice span names who speaks; players show or style it (the name is one line).
    return f"<v {_vtt_escape(' '.join(cue.speaker.split()))}>{text}</v>"


def render_vtt(t: Transcript, shaping: Shaping | None = None) -> str:
    blocks = [
        f"{_clock(c.start, '.')} --> {_clock(c.end, '.')}\n{_vtt_text(c)}\n" for c in _cues(t, shaping or Shaping())
    ]
    return "WEBVTT\n\n" + "\n".join(blocks)


def render_ass(t: Transcript, shaping: Shaping | None = None) -> str:
    import pysubs2  # only publish of an ASS output needs it

    subs = pysubs2.SSAFile()
    subs.info["Title"] = t.source_uri.rsplit("/", 1)[-1]
    for c in _cues(t, shaping or Shaping()):
        # Braces open override blocks and backslashes start tags in ASS, with no escape.
        text = c.text.replace("\\", "/").replace("{", "(").replace("}", ")")
        subs.append(
            pysubs2.SSAEvent(
                start=round(c.start * 1000),
                end=round(c.end * 1000),
                text=text.replace("\n", r"\N"),
                # Fields are comma-separated and the line ends the event: neither in a name.
                name=" ".join(c.speaker.replace(",", " ").split()),
            )
        )
    rendered: str = subs.to_string("ass")
    return rendered


def render_txt(t: Transcript, shaping: Shaping | None = None) -> str:
    """One sentence a line, as spoken (the subtitle shaping does not apply: ``shaping`` is
    taken for the renderers' common signature)."""
    return "".join(line + "\n" for line in text_lines(t.segments))


def _tsv_field(text: str) -> str:
    return " ".join(text.strip().replace("\t", " ").splitlines())


def render_tsv(t: Transcript, shaping: Shaping | None = None) -> str:
    # Whisper's TSV: integer milliseconds, tabs in text replaced so columns stay columns.
    speakers = any(s.speaker for s in t.segments)
    rows = [
        f"{int(round(s.start * 1000))}\t{int(round(s.end * 1000))}\t{_tsv_field(s.text)}"
        + (f"\t{_tsv_field(s.speaker)}" if speakers else "")
        for s in t.segments
        if s.text.strip()
    ]
    return ("start\tend\ttext\tspeaker\n" if speakers else "start\tend\ttext\n") + "".join(r + "\n" for r in rows)


RENDERERS: dict[str, Callable[[Transcript, Shaping | None], str]] = {
    "json": render_json,
    "srt": render_srt,
    "vtt": render_vtt,
    "ass": render_ass,
    "txt": render_txt,
    "tsv": render_tsv,
}
