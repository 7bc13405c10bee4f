"""Progress on a terminal: a line per stage, a bar per chunk being transcribed (stderr);
with a ``LiveTranscript``, the text as it is heard."""

from __future__ import annotations

import sys
import threading
from typing import NoReturn, TextIO

from tqdm import tqdm

from kscribe.cli.live import LiveTranscript
from kscribe.values import Chunk, ChunkTranscript, Segment


class TerminalProgress:
    def __init__(self, stream: TextIO | None = None, enabled: bool = True, live: LiveTranscript | None = None):
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.live = live
        self._bars: dict[tuple[str, int], tqdm[NoReturn]] = {}  # bars we only update, never iterate
        self._lock = threading.Lock()  # chunks report from several worker threads

    def stage(self, job_id: str, stage: str, detail: str = "") -> None:
        if not self.enabled:
            return
        if stage == "failed":
            # The reason is printed once, with the job's summary when the run ends.
            detail = ""
        tqdm.write(f"[{job_id[:8]}] {stage}{': ' + detail if detail else ''}", file=self.stream)

    def chunk_transcribed(self, count: int, transcript: ChunkTranscript) -> None:
        if self.live is not None:
            self.live.add(count, transcript)

    def heard(self, chunk: Chunk, segment: Segment) -> None:
        if self.live is not None:
            self.live.heard(chunk, segment)

    def chunk(self, job_id: str, index: int, count: int, done_s: float, total_s: float) -> None:
        if not self.enabled:
            return
        key = (job_id, index)
        with self._lock:
            bar = self._bars.get(key)
            if bar is None:
                # A position only when bars stack (parallel chunks): it makes tqdm move the cursor.
                bar = self._bars[key] = tqdm(
                    total=round(total_s, 1),
                    unit="s",
                    desc=f"[{job_id[:8]}] transcribe chunk {index + 1}/{count}",
                    file=self.stream,
                    leave=True,
                    position=len(self._bars) or None,
                    bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s audio [{elapsed}]",
                )
            bar.n = round(min(done_s, total_s), 1)
            bar.refresh()
            if done_s >= total_s:
                bar.close()
                del self._bars[key]
