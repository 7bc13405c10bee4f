"""A job's transcript on the terminal as it is heard: the chunk being shown streams its
segments as the decoder hears them, and each chunk's text follows in order once every chunk
before it is shown (chunks decoded at once finish in any order). When a streamed chunk is
stored, what its coverage check added (words in pieces the first pass left empty) follows."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence

from kscribe.asr.coverage import keep_words
from kscribe.transcript.merge import channel_speaker, own_segments
from kscribe.transcript.subtitles import speaker_label, text_lines
from kscribe.transcript.vocabulary import apply_replacements
from kscribe.values import Chunk, ChunkTranscript, Segment

# How far a stored word's middle may lie outside the streamed segment that showed it.
STREAMED_SLACK_S = 0.25


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
        # (job, chunk index) → the spans (chunk times) of the segments streamed as heard
        self._heard: dict[tuple[str, int], list[tuple[float, float]]] = {}
        self._lock = threading.Lock()  # chunks finish on several worker threads

    def heard(self, chunk: Chunk, segment: Segment) -> None:
        """A segment of ``chunk`` as the decoder hears it (the chunk's own times): shown at
        once if every chunk before it is shown, else left to the chunk's stored text."""
        line = " ".join(apply_replacements([segment], self._replacements)[0].text.split())
        speaker = channel_speaker(chunk.channel)
        with self._lock:
            if self._next.get(chunk.job_id, 0) != chunk.index or not line:
                return
            self._heard.setdefault((chunk.job_id, chunk.index), []).append((segment.start, segment.end))
            self._show(chunk.job_id, f"{speaker_label(speaker)} {line}" if speaker else line)

    def add(self, count: int, chunk: ChunkTranscript) -> None:
        """Chunk ``chunk.index`` of ``count`` is transcribed: show it (what was not streamed
        of it), and the chunks after it that came early, if every chunk before it is shown."""
        with self._lock:
            text = self._text(chunk, self._heard.pop((chunk.job_id, chunk.index), []))
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

    def _text(self, chunk: ChunkTranscript, streamed: list[tuple[float, float]]) -> str:
        """The chunk's own text, without the words whose middle lies in a segment streamed
        already (give or take STREAMED_SLACK_S: stored words are snapped to the speech)."""
        own: Sequence[Segment] = own_segments(chunk)
        if streamed:
            own = keep_words(own, lambda item: not _within((item[0] + item[1]) / 2, streamed))
        segments = apply_replacements(own, self._replacements)
        lines = text_lines(segments)
        speaker = channel_speaker(chunk.channel)
        if speaker and lines:
            lines[0] = f"{speaker_label(speaker)} {lines[0]}"
        return "\n".join(lines)


def _within(t: float, spans: Sequence[tuple[float, float]]) -> bool:
    return any(a - STREAMED_SLACK_S <= t <= b + STREAMED_SLACK_S for a, b in spans)
