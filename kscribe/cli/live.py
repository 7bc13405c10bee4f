"""A job's transcript on the terminal as its chunks finish: each chunk's sentences in order,
a chunk as soon as every one before it is shown (chunks decoded at once finish in any order)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

from kscribe.transcript.merge import channel_speaker, own_segments
from kscribe.transcript.subtitles import speaker_label, text_lines
from kscribe.transcript.vocabulary import apply_replacements
from kscribe.values import ChunkTranscript


class LiveTranscript:
    """Collects chunk transcripts and hands ``write`` each job's text in chunk order.

    A preview: words in the padding two chunks share are left to the chunk whose span holds
    them, custom spellings are applied, and speakers by voice are only known once the job is
    published (the written TXT has them)."""

    def __init__(
        self, write: Callable[[str], None], replacements: Mapping[str, str] | None = None, label_jobs: bool = False
    ):
        self._write = write
        self._replacements = dict(replacements or {})
        # Several jobs' chunks interleave: a job's text then starts with its tag, as its
        # stage lines do, wherever it follows another job's.
        self._label_jobs = label_jobs
        self._last = ""  # the job whose text was shown last
        self._waiting: dict[str, dict[int, str]] = {}  # job → chunk index → its text, not shown yet
        self._next: dict[str, int] = {}  # job → the chunk index to show next
        self._shown: set[str] = set()  # jobs with some text shown
        self._lock = threading.Lock()  # chunks finish on several worker threads

    def add(self, count: int, chunk: ChunkTranscript) -> None:
        """Chunk ``chunk.index`` of ``count`` is transcribed: show it, and the chunks after it
        that came early, if every chunk before it is shown."""
        text = self._text(chunk)
        with self._lock:
            waiting = self._waiting.setdefault(chunk.job_id, {})
            waiting[chunk.index] = text
            at = self._next.get(chunk.job_id, 0)
            while at in waiting:
                self._show(chunk.job_id, waiting.pop(at))
                at += 1
            self._next[chunk.job_id] = at
            if at >= count:
                del self._waiting[chunk.job_id]

    def flush(self, job_id: str) -> bool:
        """Show what is still waiting for an earlier chunk that never came (it was stored by
        an earlier attempt, so it was not reported), in order; whether any of the job's text
        was shown."""
        with self._lock:
            waiting = self._waiting.pop(job_id, {})
            for index in sorted(waiting):
                self._show(job_id, waiting[index])
            return job_id in self._shown

    def _show(self, job_id: str, text: str) -> None:
        if not text:
            return
        if self._label_jobs and job_id != self._last:
            text = f"[{job_id[:8]}]\n{text}"
        self._write(text)
        self._shown.add(job_id)
        self._last = job_id

    def _text(self, chunk: ChunkTranscript) -> str:
        segments = apply_replacements(own_segments(chunk), self._replacements)
        lines = text_lines(segments)
        speaker = channel_speaker(chunk.channel)
        if speaker and lines:
            lines[0] = f"{speaker_label(speaker)} {lines[0]}"
        return "\n".join(lines)
