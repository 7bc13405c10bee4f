"""Running the whole pipeline on one machine: the stages wired by the in-process bus."""

from __future__ import annotations

import uuid
from pathlib import Path

from kscribe.choices import JobChoices
from kscribe.context import Context, Handler
from kscribe.errors import SourceNotFound
from kscribe.events import Event
from kscribe.pipeline.bus import InProcessBus
from kscribe.pipeline.handlers import STAGE_OF, SUBSCRIBERS, on_dead_letter
from kscribe.pipeline.reconcile import reconcile
from kscribe.pipeline.stages.announce import announce
from kscribe.pipeline.stages.ingest import CheckedChoices, IngestResult, JobRequest, check_choices, ingest
from kscribe.storage.notices import notice_of


class LocalPipeline:
    """``submit`` files, then ``run``: every event goes through the same handlers the
    Knative functions use, routed by type with retries and a dead-letter step."""

    def __init__(self, ctx: Context, attempts: int = 3, backoff_s: float = 0.5):
        self.ctx = ctx
        self._stems: set[str] = set()
        self._jobs: list[str] = []
        self.bus = InProcessBus(
            ctx,
            SUBSCRIBERS,
            attempts=attempts,
            backoff_s=backoff_s,
            dead_letter=self._dead_letter,
            workers=ctx.settings.parallel_chunks,
        )

    def _dead_letter(self, event: Event, error: Exception, handler: Handler) -> None:
        reason = str(error) or type(error).__name__
        for produced in on_dead_letter(event, self.ctx, reason, STAGE_OF.get(handler, "")):
            self.bus.publish(produced)

    def submit(self, path: Path, choices: JobChoices | CheckedChoices | None = None) -> IngestResult:
        """Ingest a local file as an explicit request: a bad file becomes a failed job, and
        each call is a new job (running a file again is deliberate, not a redelivery).
        ``choices`` the caller has not checked are checked here, as the operator's (model
        paths allowed); one they cannot have fails the job."""
        source = str(path.expanduser().absolute())
        info = self.ctx.blobs.stat(source)
        if info is None:
            raise SourceNotFound(f"no such file: {source}")
        notice = notice_of(info)
        # Outputs land flat in the chosen directory, as the user asked; a second file of the
        # same name in one run keeps its extension (talk.mp4 → talk.srt, talk.mkv → talk.mkv.srt).
        stem = path.stem if path.stem not in self._stems else path.name
        self._stems.add(stem)
        request = JobRequest(
            key=uuid.uuid4().hex, output_uri=self.ctx.settings.output_uri, output_stem=stem, origin="cli"
        )
        checked = (
            choices
            if isinstance(choices, CheckedChoices)
            else check_choices(choices or JobChoices(), self.ctx.settings, trusted=True)
        )
        result = ingest(notice, self.ctx, checked, request)
        if result.job is not None:
            self._jobs.append(result.job.id)
            for event in announce(result.job):
                self.bus.publish(event)
        return result

    def run(self) -> None:
        """Deliver every event; then, as the reconciler would, re-drive any of this run's
        jobs that did not finish (an event a handler dropped), a bounded number of times."""
        self.bus.drain()
        while True:
            unfinished = [j for j in self._jobs if not self.ctx.jobs.require(j).status.terminal]
            if not unfinished:
                return
            driving = reconcile(self.ctx, only=unfinished).events
            if not driving:
                return
            for event in driving:
                self.bus.publish(event)
            self.bus.drain()
