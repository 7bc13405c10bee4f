"""A stored transcript read back from its JSON output, with names given to its speakers.

Speaker labels ("channel 1", "Speaker 2") are what the job heard; a person may name them
afterwards (``Job.speaker_names``). The names are applied when a transcript is downloaded, by
rendering again from the job's JSON output, so what was stored stays as it was heard.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping

from kscribe.values import Segment, Transcript

# What a name may be: it is shown in subtitles, so one short line.
MAX_NAME_CHARS = 64
MAX_NAMES = 100
# What a name may not hold: control characters (C0, DEL, C1), invisible and direction-changing
# marks (zero-width, bidi embeddings and isolates, BOM) and Unicode line and paragraph breaks:
# each could break a subtitle's lines or show a name other than the one stored.
NAME_PATTERN = "^[^\\x00-\\x1f\\x7f-\\x9f\\u200b-\\u200f\\u2028-\\u202e\\u2060-\\u2069\\ufeff]*$"
_TIMESTAMP = re.compile(r"\d\s*:\s*\d\d")
_FORMULA_START = ("=", "+", "-", "@")


def name_problem(name: str) -> str:
    """Why ``name`` cannot name a speaker, or "" (after NAME_PATTERN's check): subtitle readers
    take anything shaped like a timestamp for a cue's timing, and a spreadsheet opening the
    TSV takes a field starting with = + - @ for a formula."""
    if _TIMESTAMP.search(name):
        return "a name may not hold a time (digits around a colon): subtitle players read it as a cue's timing"
    if name.startswith(_FORMULA_START):
        return "a name may not start with = + - or @ (a spreadsheet would run it as a formula)"
    return ""


def transcript_from_json(raw: bytes | str) -> Transcript:
    """The transcript ``formats.render_json`` wrote."""
    data = json.loads(raw)
    segments = tuple(Segment.from_dict(s) for s in data["segments"])
    return Transcript(
        job_id=data.get("job_id", ""),
        source_uri=data.get("source", ""),
        language=data.get("language", ""),
        duration_s=data.get("duration", 0.0),
        model=data.get("model", ""),
        task=data.get("task", ""),
        segments=segments,
        audio_track=data.get("audio_track", ""),
        coverage=data.get("coverage", {}),
    )


def speaker_labels(transcript: Transcript) -> set[str]:
    """Every speaker label the transcript's segments and words carry."""
    labels = {s.speaker for s in transcript.segments} | {w.speaker for s in transcript.segments for w in s.words}
    return labels - {""}


def with_speaker_names(transcript: Transcript, names: Mapping[str, str]) -> Transcript:
    """The transcript with each label in ``names`` replaced by its name (others kept)."""

    def name(label: str) -> str:
        return names.get(label, label)

    segments = tuple(
        dataclasses.replace(
            s, speaker=name(s.speaker), words=tuple(dataclasses.replace(w, speaker=name(w.speaker)) for w in s.words)
        )
        for s in transcript.segments
    )
    return dataclasses.replace(transcript, segments=segments)
