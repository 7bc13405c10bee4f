"""A stored transcript read back from its JSON output, with names given to its speakers.

Speaker labels ("channel 1", "Speaker 2") are what the job heard; a person may name them
afterwards (``Job.speaker_names``). The names are applied when a transcript is downloaded, by
rendering again from the job's JSON output, so what was stored stays as it was heard.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping

from kscribe.values import Segment, Transcript, Word

# What a name may be: it is shown in subtitles, so one short line.
MAX_NAME_CHARS = 64
MAX_NAMES = 100


def transcript_from_json(raw: bytes | str) -> Transcript:
    """The transcript ``formats.render_json`` wrote."""
    data = json.loads(raw)
    segments = tuple(
        Segment(
            start=s["start"],
            end=s["end"],
            text=s["text"],
            words=tuple(
                Word(w["start"], w["end"], w["word"], w.get("probability", 0.0), w.get("speaker", ""))
                for w in s.get("words", ())
            ),
            avg_logprob=s.get("avg_logprob", 0.0),
            no_speech_prob=s.get("no_speech_prob", 0.0),
            speaker=s.get("speaker", ""),
            language=s.get("language", ""),
        )
        for s in data["segments"]
    )
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
