"""Names for a transcript's speakers: stored with the job, applied to its downloads."""

from __future__ import annotations

from kscribe.api.body import parse_body
from kscribe.api.http import ApiError, ApiRequest, ApiResponse
from kscribe.api.views import job_view, own_job
from kscribe.context import Context
from kscribe.storage import is_within
from kscribe.tenancy.apikeys import ApiKey
from kscribe.transcript.formats import RENDERERS
from kscribe.transcript.renamed import name_problem, speaker_labels, transcript_from_json, with_speaker_names
from kscribe.values import Job, JobStatus

# The body schema in the OpenAPI document.
NAMES_SCHEMA = "SpeakerNames"


class SpeakerNames:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    def put(self, request: ApiRequest, key: ApiKey, job_id: str) -> ApiResponse:
        """Replace the job's speaker names with the body's ``names`` (label → name; an empty
        name, or a label left out, keeps the label as heard)."""
        job = own_job(self.ctx, key, job_id)
        body = parse_body(request, self.ctx.settings, NAMES_SCHEMA)
        if job.status is not JobStatus.SUCCEEDED:
            raise ApiError(
                409, "not_ready", f"the transcription is {job.status.value}: speakers are named once it succeeded"
            )
        if "json" not in job.outputs:
            raise ApiError(409, "no_json_output", "speakers can be named only on a job that wrote the json format")
        labels = speaker_labels(transcript_from_json(self._read(job, "json")))
        names = {label: name.strip() for label, name in body["names"].items() if name.strip()}
        problems = {name_problem(name) for name in names.values()} - {""}
        if problems:
            raise ApiError(400, "invalid_names", "; ".join(sorted(problems)))
        unknown = sorted(set(names) - labels)
        if unknown:
            heard = ", ".join(sorted(labels)) or "none"
            raise ApiError(
                400, "invalid_names", f"no speaker {', '.join(unknown)} in this transcript (it has: {heard})"
            )
        self.ctx.jobs.update(job.id, speaker_names=names)
        return ApiResponse(200, job_view(self.ctx.jobs.require(job.id)))

    def _read(self, job: Job, fmt: str) -> bytes:
        uri = job.outputs.get(fmt, "")
        # Read only from the job's own location, whatever the record says.
        if not is_within(uri, job.output_uri):
            raise ApiError(404, "format_not_available", f"this job did not produce {fmt}")
        return self.ctx.blobs.read_bytes(uri)


def renamed_output(ctx: Context, job: Job, fmt: str) -> bytes | None:
    """The job's ``fmt`` rendered again from its JSON output with its speaker names; None when
    it has no names (or no JSON output to render from): the stored output is the answer."""
    uri = job.outputs.get("json", "")
    if not job.speaker_names or fmt not in RENDERERS or not is_within(uri, job.output_uri):
        return None
    transcript = with_speaker_names(transcript_from_json(ctx.blobs.read_bytes(uri)), job.speaker_names)
    shaping = ctx.settings.shaping.replace(job.subtitles)
    return RENDERERS[fmt](transcript, shaping).encode("utf-8")
