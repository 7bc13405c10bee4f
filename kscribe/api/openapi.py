"""The API's OpenAPI 3.1 document, served at /openapi.json."""

from typing import Any

from kscribe.choices import (
    CHOICE_PATTERN,
    MAX_CHOICE_CHARS,
    MAX_EXPIRY_S,
    MAX_HOTWORDS_CHARS,
    MAX_METADATA_KEY,
    MAX_METADATA_KEYS,
    MAX_METADATA_VALUE,
    MAX_PROMPT_CHARS,
    MAX_REPLACEMENT_CHARS,
    MAX_REPLACEMENTS,
)
from kscribe.choices import OPTIONS as SHAPING_OPTIONS
from kscribe.transcript.renamed import MAX_NAME_CHARS, MAX_NAMES, NAME_PATTERN
from kscribe.transcript.speakers import MAX_SPEAKERS, MIN_SPEAKERS
from kscribe.values import CHANNEL_MODES, LANGUAGES, ORIGINS, TASKS, JobStatus
from kscribe.values import FORMATS as ALL_FORMATS

_ERROR = {"$ref": "#/components/schemas/Error"}
# What the OpenAI-compatible routes answer in (kscribe.api.routes.openai.RESPONSE_FORMATS; a test holds
# the two equal: that module imports the api, which serves this document).
OPENAI_FORMATS = ("json", "text", "srt", "verbose_json", "vtt", "diarized_json")


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "Invalid request (one code per bad field)",
        401: "Missing or invalid API key",
        403: "The link's signature does not match, or it expired (invalid_link, link_expired)",
        404: "No such transcription or batch (or another tenant's)",
        405: "Method not allowed",
        409: "Not in a state that allows this",
        413: "Body too large",
        422: "Idempotency-Key reused with a different body (idempotency_key_reused)",
        429: "Rate limited (rate_limited), at a tenant quota (quota_exceeded), or the pipeline's line is full "
        "(queue_full, KSCRIBE_QUEUE_MAX_JOBS); Retry-After says when to try again",
    }
    return {str(c): {"description": text[c], "content": {"application/json": {"schema": _ERROR}}} for c in codes}


# A job's choices, shared by a transcription's body and an upload session's. Empty strings and
# nulls mean "the settings' default", as leaving the field out does.
_CHOICES: dict[str, Any] = {
    "language": {
        "type": ["string", "null"],
        "title": "a language code such as en or de",
        # A code the model does not speak ("xx", or de for tiny.en) is a 400 naming it, from
        # the check after the schema (asr.models.check_language), so the pattern only bounds it.
        "pattern": "^([a-z]{2,3})?$",
        "examples": ["en", "de"],
        "description": "detected if omitted; one the model speaks: an English-only model (tiny.en) "
        "speaks only en, any other " + ", ".join(LANGUAGES),
    },
    "task": {"type": ["string", "null"], "enum": [*TASKS, "", None]},
    "model": {"type": ["string", "null"], "description": "an installed model: tiny.en, base, small, …"},
    "formats": {
        "title": f"a list of {', '.join(ALL_FORMATS)}",
        "type": ["array", "string", "null"],
        "maxItems": len(ALL_FORMATS),
        "items": {"enum": list(ALL_FORMATS)},
        "description": "a list, or a string: comma-separated, or all",
    },
    "multilingual": {
        "type": ["boolean", "null"],
        "description": "speech that switches language: each 30 s window is decoded in the "
        "language detected for it (ignored when language is given); without it, a job with no "
        "language is decoded in the one detected from windows spread over the audio",
    },
    "channels": {
        "type": ["string", "null"],
        "enum": [*CHANNEL_MODES, "", None],
        "default": "mix",
        "description": "split: each channel of a stereo or multichannel track is transcribed "
        "on its own and every segment and word is labelled speaker 'channel N' (1-based); "
        "channels that carry the same signal, a silent channel or a mono track are "
        "transcribed once or left out (the job's channels_note says so). mix: every "
        "channel mixed into one, no labels (default: the settings)",
    },
    "audio_track": {
        "title": "an audio track's index (0, 1, …) or a language code such as en, deu or ger",
        # pattern and maxLength hold for a string, the bounds for a number; "" is automatic.
        "type": ["string", "integer", "null"],
        "maxLength": MAX_CHOICE_CHARS,
        "pattern": CHOICE_PATTERN,
        "minimum": 0,
        "maximum": 999,
        "description": "the audio track to transcribe: its index among the source's audio tracks "
        "(0, 1, …) or a language code (ISO 639-1 or 639-2: en, eng, de, deu, ger); default: the "
        "track the container marks default, else the first. A choice the source has no track "
        "for fails the job, its error listing the tracks there are",
    },
}
# Speaker labels by voice, for a transcription's body and an upload session's.
_SPEAKERS: dict[str, Any] = {
    "speakers": {
        "type": ["boolean", "null"],
        "description": "label words and segments with who speaks, by voice (Speaker 1, 2, … in "
        "order of first appearance); refused (400) unless the operator enabled diarization "
        "(KSCRIBE_DIARIZE)",
    },
    **{
        f"{which}_speakers": {
            "type": ["integer", "null"],
            "minimum": MIN_SPEAKERS,
            "maximum": MAX_SPEAKERS,
            "description": f"with speakers: the {what} number of speakers",
        }
        for which, what in (("num", "exact"), ("min", "least"), ("max", "greatest"))
    },
}
# Lists and objects are bounded before their entries are checked, and keywords apply in the
# order written, so refusing a body of thousands of entries stops at the bound. A field of two
# forms is one schema with a list of types, not oneOf: oneOf checks every entry under every
# form and keeps every error.
# No control characters (tab and newline are text).
PLAIN_TEXT = {"pattern": "^[^\\x00-\\x08\\x0b-\\x1f\\x7f]*$"}

_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"}}
_PURGE = {
    "name": "purge",
    "in": "query",
    "schema": {"type": "boolean"},
    "description": "true: purge at once (idempotent, 204) instead of cancelling",
}


def _openai_route(summary: str) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "description": "OpenAI's audio API shape, for OpenAI clients (the SDKs, Bazarr, Open WebUI): the same "
            "tenant keys; the file becomes an ordinary job. Answers when the job ended, within "
            "KSCRIBE_OPENAI_WAIT_SECONDS, else 202 with its status URL. Errors are OpenAI's shape.",
            "requestBody": {
                "required": True,
                "content": {
                    "multipart/form-data": {"schema": {"$ref": "#/components/schemas/OpenAiTranscriptionForm"}}
                },
            },
            "responses": {
                "200": {
                    "description": "The transcript in response_format (json: {text}; verbose_json: language, "
                    "duration, segments, words; diarized_json: task, duration, text, segments with speaker "
                    "A, B, …; text, srt, vtt: plain text); with stream=true, text/event-stream: "
                    "transcript.text.delta events (diarized_json: then a transcript.text.segment per "
                    "segment), then transcript.text.done"
                },
                "202": {"description": "Still running: {id, status, status_url}"},
                "400": {"description": "A bad form field (OpenAI's error shape)"},
                "401": {"description": "Missing or invalid API key"},
                "413": {"description": "The file is over KSCRIBE_API_MAX_UPLOAD_BYTES"},
                "429": {"description": "Rate limited or at a tenant quota"},
            },
        }
    }


OPENAPI = {
    "openapi": "3.1.0",
    "info": {"title": "kscribe", "version": "1", "description": "Video transcription jobs."},
    "components": {
        "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer", "description": "kscribe keys create"}},
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {
                    "error": {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                    }
                },
            },
            "CreateTranscription": {
                "type": "object",
                "required": ["source"],
                "additionalProperties": False,
                "properties": {
                    "source": {
                        "type": "string",
                        "minLength": 1,
                        "description": "gs://bucket/object under one of the tenant's "
                        "source prefixes (its own: <input>/tenants/<tenant>/); "
                        "anything else answers source_not_found",
                    },
                    **_CHOICES,
                    "callback_url": {
                        "type": ["string", "null"],
                        "format": "uri",
                        "description": "POSTed the job's outcome; private and internal addresses are refused",
                    },
                    "metadata": {
                        "type": ["object", "null"],
                        "maxProperties": MAX_METADATA_KEYS,
                        "propertyNames": {
                            "title": f"keys of at most {MAX_METADATA_KEY} characters, not starting kscribe-",
                            "maxLength": MAX_METADATA_KEY,
                            "not": {"pattern": "^[kK][sS][cC][rR][iI][bB][eE]-"},
                        },
                        "additionalProperties": {"type": "string", "maxLength": MAX_METADATA_VALUE},
                        "description": "yours, carried on every event, callback and job view",
                    },
                    "prompt": {
                        "type": ["string", "null"],
                        "maxLength": MAX_PROMPT_CHARS,
                        **PLAIN_TEXT,
                        "description": "Whisper's initial prompt for every chunk: names and spellings to expect",
                    },
                    "hotwords": {
                        "type": ["string", "array", "null"],
                        "maxLength": MAX_HOTWORDS_CHARS,
                        **PLAIN_TEXT,
                        "maxItems": MAX_HOTWORDS_CHARS,  # each word is a character at least
                        "items": {"type": "string", **PLAIN_TEXT},
                        "description": "words to favour (a list is joined with commas; "
                        f"{MAX_HOTWORDS_CHARS} characters in all)",
                    },
                    "replacements": {
                        "type": ["object", "null"],
                        "maxProperties": MAX_REPLACEMENTS,
                        "propertyNames": {"maxLength": MAX_REPLACEMENT_CHARS, **PLAIN_TEXT},
                        "additionalProperties": {"type": "string", "maxLength": MAX_REPLACEMENT_CHARS, **PLAIN_TEXT},
                        "description": "custom spellings, heard → written, applied to the words (timings kept); "
                        "both sides need words",
                    },
                    "subtitles": {
                        "type": ["object", "null"],
                        "additionalProperties": False,
                        "description": "subtitle shaping for SRT, VTT, ASS and TXT (defaults: the settings); "
                        "min_cue_s may not be over max_cue_s",
                        "properties": {
                            name: {"type": "integer" if kind is int else "number", "minimum": low, "maximum": high}
                            for name, (kind, low, high) in SHAPING_OPTIONS.items()
                        },
                    },
                    "retention_days": {
                        "type": ["integer", "null"],
                        "minimum": 1,
                        "description": "days the job and its outputs are kept, at most the operator's "
                        "KSCRIBE_MAX_RETENTION_DAYS (default: the settings)",
                    },
                    "links": {
                        "type": "boolean",
                        "description": "the callback carries time-limited links to the outputs",
                    },
                    **_SPEAKERS,
                },
            },
            "CreateUpload": {
                "type": "object",
                "required": ["filename", "size"],
                "additionalProperties": False,
                "properties": {
                    "filename": {"type": "string", "minLength": 1, "maxLength": 1024},
                    "size": {"type": "integer", "minimum": 1, "description": "bytes; at most the operator's limit"},
                    "content_type": {
                        "type": ["string", "null"],
                        "title": "a MIME type such as video/mp4",
                        "pattern": r"^([\w.+-]+/[\w.+-]+)?$",
                        "description": "accepted and ignored: the object's type comes from the file name's "
                        "extension (a fixed list of audio and video types, else application/octet-stream)",
                    },
                    **_CHOICES,
                    **_SPEAKERS,
                },
            },
            "BatchAccepted": {
                "type": "object",
                "required": ["id", "total", "status_url", "jobs_url"],
                "properties": {
                    "id": {"type": "string"},
                    "total": {"type": "integer"},
                    "status_url": {"type": "string"},
                    "jobs_url": {"type": "string"},
                },
            },
            "Batch": {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "status": {"type": "string", "enum": ["creating", "running", "completed"]},
                    "done": {"type": "boolean", "description": "every job ended"},
                    "total": {"type": "integer"},
                    "counts": {
                        "type": "object",
                        "description": "jobs per status (expired: the job's record is gone)",
                        "additionalProperties": {"type": "integer"},
                    },
                    "succeeded": {"type": "integer"},
                    "failed": {"type": "integer"},
                    "cancelled": {"type": "integer"},
                    "progress": {"type": "number", "minimum": 0, "maximum": 100},
                    "created_at": {"type": "number"},
                    "finished_at": {"type": ["number", "null"]},
                    "source_prefix": {"type": ["string", "null"]},
                    "job_callbacks": {"type": "boolean"},
                    "callback": {"type": ["object", "null"]},
                    "status_url": {"type": "string"},
                    "jobs_url": {"type": "string"},
                },
            },
            "Links": {
                "type": "object",
                "description": "format → a time-limited link that needs no API key ({} until the job succeeded)",
                "additionalProperties": {
                    "type": "object",
                    "required": ["url", "expires_at"],
                    "properties": {"url": {"type": "string"}, "expires_at": {"type": "integer"}},
                },
            },
            "OpenAiTranscriptionForm": {
                "type": "object",
                "required": ["file", "model"],
                "properties": {
                    "file": {"type": "string", "contentMediaType": "application/octet-stream"},
                    "model": {"type": "string", "description": "whisper-1 (the default model) or an installed one"},
                    "language": {"type": "string", "description": "ISO-639-1 (transcriptions only)"},
                    "prompt": {
                        "type": "string",
                        "maxLength": MAX_PROMPT_CHARS,
                        "description": "Whisper's initial prompt for every chunk of the job, as the job API's prompt",
                    },
                    "response_format": {
                        "type": "string",
                        "enum": list(OPENAI_FORMATS),
                        "description": "diarized_json (transcriptions, where KSCRIBE_DIARIZE is on) labels "
                        "the job's speakers by voice",
                    },
                    "temperature": {"type": "number", "minimum": 0, "maximum": 1},
                    "timestamp_granularities[]": {
                        "type": "array",
                        "items": {"type": "string", "enum": ["word", "segment"]},
                        "description": "with response_format verbose_json only (else 400, as OpenAI answers)",
                    },
                    "stream": {
                        "type": "boolean",
                        "description": "true (response_format json, text or diarized_json): server-sent events, a "
                        "transcript.text.delta per chunk as it finishes, then transcript.text.done with the whole "
                        "text, or an error event; other formats: 400 stream_unsupported",
                    },
                    "retention_days": {"type": "integer", "minimum": 1},
                },
            },
            "Accepted": {
                "type": "object",
                "required": ["id", "status", "status_url"],
                "properties": {
                    "id": {"type": "string"},
                    "status": {"type": "string"},
                    "status_url": {"type": "string"},
                },
            },
            "Transcription": {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "status": {"type": "string", "enum": [s.value for s in JobStatus]},
                    "progress": {
                        "type": "number",
                        "minimum": 0,
                        "maximum": 100,
                        "description": "100 only when succeeded: a failed or cancelled job shows how far it came",
                    },
                    "source": {"type": "string"},
                    "created_at": {"type": "number", "description": "Unix seconds"},
                    "updated_at": {"type": "number", "description": "Unix seconds"},
                    "created_at_iso": {"type": ["string", "null"], "format": "date-time"},
                    "updated_at_iso": {"type": ["string", "null"], "format": "date-time"},
                    "model": {"type": "string"},
                    "detected_language": {"type": ["string", "null"]},
                    "multilingual": {
                        "type": "boolean",
                        "description": "asked for, or chosen when detection found more than one language",
                    },
                    "languages": {
                        "type": "object",
                        "additionalProperties": {"type": "number", "minimum": 0},
                        "description": "seconds of transcribed speech per language code, most first",
                    },
                    "coverage": {
                        "type": ["object", "null"],
                        "description": (
                            "speech_s: seconds VAD heard as speech; covered_s: of them, in pieces that hold words;"
                            " uncovered_s: the rest; redecoded: pieces decoded a second time, sequentially"
                        ),
                    },
                    "timings": {"type": "object", "additionalProperties": {"type": "number"}},
                    "failed_stage": {
                        "type": ["string", "null"],
                        "description": "where a failed job failed (as in job.failed and the callback)",
                    },
                    "error": {
                        "type": ["object", "null"],
                        "properties": {
                            "message": {"type": "string", "description": "why, in words meant for the uploader"},
                            "stage": {"type": "string", "deprecated": True, "description": "deprecated: failed_stage"},
                        },
                    },
                    "outputs": {"type": "object", "additionalProperties": {"type": "string"}},
                    "chunks": {
                        "type": "object",
                        "properties": {
                            "total": {
                                "type": "integer",
                                "description": "chunks the audio was cut into (0 until extracted)",
                            },
                            "done": {"type": "integer", "description": "chunks transcribed and stored"},
                            "decoding": {
                                "type": "array",
                                "description": "chunks on a worker: seconds of each decoded so far (progress inside a chunk)",
                                "items": {
                                    "type": "object",
                                    "properties": {"index": {"type": "integer"}, "decoded_s": {"type": "number"}},
                                },
                            },
                        },
                    },
                    "transcribed_s": {
                        "type": "number",
                        "description": "seconds of audio transcribed: stored chunks and what the chunks on a worker decoded",
                    },
                    "origin": {
                        "type": ["string", "null"],
                        "enum": [*ORIGINS, None],
                        "description": "how the job came to be: a page upload, an API request or batch, the "
                        "OpenAI-compatible route, a file in the bucket, the CLI (null: a record from before this was kept)",
                    },
                    "speaker_names": {
                        "type": "object",
                        "additionalProperties": {"type": "string"},
                        "description": "names given to speaker labels (PUT …/speakers); the transcript route's "
                        "downloads show them (stored outputs and signed links keep the labels as heard)",
                    },
                    "queue": {
                        "type": ["object", "null"],
                        "description": "while the job waits in line (before its first chunk reaches a worker): its "
                        "place, how many are ahead, and the estimated start from the measured drain rate "
                        "(null until anything has finished lately); null once it started or ended",
                        "properties": {
                            "place": {"type": "integer", "minimum": 1},
                            "ahead": {"type": "integer", "minimum": 0},
                            "estimated_wait_s": {"type": ["integer", "null"]},
                            "estimated_start": {"type": ["integer", "null"], "description": "Unix time"},
                        },
                    },
                    "channels": {"type": "string", "enum": list(CHANNEL_MODES)},
                    "channels_note": {
                        "type": ["string", "null"],
                        "description": "why a split job was not transcribed one channel at a time "
                        "(identical or silent channels, a mono track)",
                    },
                    "speakers": {
                        "type": ["object", "null"],
                        "description": "a job with speaker labels by voice: the counts it gave (num, min, max) "
                        "and diarized_chunks, the chunks whose voice turns are stored; null otherwise",
                    },
                    "callback": {"type": ["object", "null"]},
                    "retention_days": {"type": ["integer", "null"]},
                    "batch_id": {"type": ["string", "null"], "description": "the batch the job was made in"},
                    "links": {"$ref": "#/components/schemas/Links"},
                    "audio_track": {"type": ["string", "null"], "description": "the audio track asked for"},
                    "audio_track_used": {
                        "type": ["string", "null"],
                        "description": 'the audio track transcribed: its index and language tag, "1 (deu)" '
                        "(null until extraction has chosen it)",
                    },
                },
            },
        },
    },
    "security": [{"apiKey": []}],
    "paths": {
        "/api/v1/transcriptions": {
            "post": {
                "summary": "Create a transcription job",
                "parameters": [
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "schema": {"type": "string", "maxLength": 200},
                        "description": "a retried POST with the same key returns the first job",
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CreateTranscription"}}},
                },
                "responses": {
                    "202": {
                        "description": "Accepted",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Accepted"}}},
                    },
                    **_errors(400, 401, 413, 422, 429),
                },
            },
            "get": {
                "summary": "List the caller's transcriptions, newest first",
                "parameters": [
                    {"name": "status", "in": "query", "schema": {"type": "string"}},
                    {
                        "name": "batch_id",
                        "in": "query",
                        "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
                        "description": "only this batch's jobs, in the order they were given (404: no such batch)",
                    },
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
                    {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                ],
                "responses": {
                    "200": {
                        "description": "A page",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "items": {
                                            "type": "array",
                                            "items": {"$ref": "#/components/schemas/Transcription"},
                                        },
                                        "next_cursor": {"type": ["string", "null"]},
                                    },
                                }
                            }
                        },
                    },
                    **_errors(400, 401, 429),
                },
            },
        },
        "/api/v1/transcriptions/{id}": {
            "get": {
                "summary": "Status, progress, timings, error and outputs",
                "parameters": [_ID],
                "responses": {
                    "200": {
                        "description": "The job",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Transcription"}}},
                    },
                    **_errors(401, 404, 429),
                },
            },
            "delete": {
                "summary": "Cancel: no later stage does more work for it; with purge=true, purge it",
                "parameters": [_ID, _PURGE],
                "responses": {
                    "200": {
                        "description": "Cancelled",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Transcription"}}},
                    },
                    "204": {"description": "Purged: outputs, work objects, inputs kscribe wrote, the record"},
                    **_errors(401, 404, 409, 429),
                },
            },
        },
        "/api/v1/usage": {
            "get": {
                "summary": "The caller's tenant: unfinished jobs and today's audio against its quotas",
                "responses": {
                    "200": {
                        "description": "Usage",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "tenant": {"type": "string"},
                                        "active_jobs": {"type": "integer"},
                                        "max_active_jobs": {"type": ["integer", "null"]},
                                        "audio_hours_today": {"type": "number"},
                                        "audio_hours_per_day": {"type": ["number", "null"]},
                                    },
                                }
                            }
                        },
                    },
                    **_errors(401, 429),
                },
            },
        },
        "/api/v1/transcriptions/{id}/transcript": {
            "get": {
                "summary": "Download the transcript",
                "parameters": [
                    _ID,
                    {"name": "format", "in": "query", "schema": {"type": "string", "enum": list(ALL_FORMATS)}},
                    {
                        "name": "speaker_names",
                        "in": "query",
                        "description": "false: the speaker labels as heard, not the names given to them",
                        "schema": {"type": "string", "enum": ["true", "false"]},
                    },
                ],
                "responses": {
                    "200": {
                        "description": "The transcript in the asked format (Content-Disposition: attachment, named <stem>.<format>)"
                    },
                    **_errors(400, 401, 404, 409, 429),
                },
            },
        },
        "/api/v1/options": {
            "get": {
                "summary": "What the caller may choose: installed models, tasks, formats, and how uploads travel",
                "responses": {"200": {"description": "Options"}, **_errors(401, 429)},
            },
        },
        "/api/v1/uploads": {
            "post": {
                "summary": "An upload session in the tenant's own upload prefix; ingest makes its one job",
                "description": "upload_url is a GCS resumable session (mode direct) or this API's "
                "PUT .../content (mode api).",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CreateUpload"}}},
                },
                "responses": {"201": {"description": "The session"}, **_errors(400, 401, 413, 429)},
            },
        },
        "/api/v1/uploads/{id}": {
            "get": {
                "summary": "An upload and, once ingest made it, its job",
                "parameters": [_ID],
                "responses": {"200": {"description": "The upload"}, **_errors(401, 404, 429)},
            },
            "delete": {
                "summary": "Give up an upload whose bytes have not arrived: its slot among the tenant's "
                "unfinished jobs comes back (409 once they are stored or arriving)",
                "parameters": [_ID],
                "responses": {"204": {"description": "Given up"}, **_errors(401, 404, 409, 429)},
            },
        },
        "/api/v1/uploads/{id}/content": {
            "put": {
                "summary": "The upload's bytes, streamed to the bucket (KSCRIBE_WEB_UPLOADS=api only), exactly once",
                "parameters": [_ID],
                "responses": {"200": {"description": "Stored"}, **_errors(400, 401, 404, 409, 429)},
            },
        },
        "/api/v1/batches": {
            "post": {
                "summary": "Create a batch: one job per file (sources, or the media files under source_prefix)",
                "parameters": [
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "schema": {"type": "string", "maxLength": 200},
                        "description": "a retried POST with the same key returns the first batch (409 "
                        "request_in_progress while the first is still making it; 422 with another body)",
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CreateBatch"}}},
                },
                "responses": {
                    "202": {
                        "description": "Accepted",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/BatchAccepted"}}},
                    },
                    **_errors(400, 401, 409, 413, 422, 429),
                },
            },
        },
        "/api/v1/batches/{id}": {
            "get": {
                "summary": "The batch: jobs per status, progress, done, succeeded and failed totals",
                "parameters": [_ID],
                "responses": {
                    "200": {
                        "description": "The batch",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Batch"}}},
                    },
                    **_errors(401, 404, 429),
                },
            },
            "delete": {
                "summary": "Cancel the batch's unfinished jobs; with purge=true, purge every job of it and the batch",
                "parameters": [_ID, _PURGE],
                "responses": {
                    "200": {
                        "description": "Cancelled",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Batch"}}},
                    },
                    "204": {"description": "Purged"},
                    **_errors(401, 404, 429),
                },
            },
        },
        "/api/v1/links/{token}": {
            "get": {
                "summary": "A result link: one output of one job until it expires; no API key",
                "description": f"The token is <job id>.<format>.<expires>.<HMAC>, made by the API (at most "
                f"{MAX_EXPIRY_S // 86400} days ahead). KSCRIBE_LINKS=api answers with the output's bytes; "
                "gcs with a redirect to a short V4 signed URL of that one object.",
                "security": [],
                "parameters": [{"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {
                    "200": {"description": "The output (Content-Disposition: attachment, named <stem>.<format>)"},
                    "302": {"description": "A GCS V4 signed URL (KSCRIBE_LINKS=gcs)"},
                    **_errors(403, 404, 405),
                },
            },
        },
        "/openapi.json": {
            "get": {"summary": "This document", "security": [], "responses": {"200": {"description": "OpenAPI 3.1"}}},
        },
        "/": {
            "get": {
                "summary": "The web page (upload, follow, read and play transcripts); its key is typed in",
                "security": [],
                "responses": {"200": {"description": "HTML"}},
            },
        },
        "/index.html": {
            "get": {"summary": "The web page", "security": [], "responses": {"200": {"description": "HTML"}}},
        },
        "/docs": {
            "get": {
                "summary": "This document, interactive (Swagger UI, served from its package)",
                "security": [],
                "responses": {"200": {"description": "HTML"}},
            },
        },
        "/docs/{file}": {
            "get": {
                "summary": "Swagger UI's script and style for /docs",
                "security": [],
                "parameters": [{"name": "file", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "The file"}, **_errors(404)},
            },
        },
        "/web/{file}": {
            "get": {
                "summary": "The web page's script and style",
                "security": [],
                "parameters": [{"name": "file", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "The file"}, **_errors(404)},
            },
        },
        "/media/{token}": {
            "get": {
                "summary": "A job's source for the page's <video> (a token from POST .../media); ranges supported",
                "security": [],
                "parameters": [{"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {
                    "200": {"description": "The media"},
                    "206": {"description": "The asked range"},
                    **_errors(404, 429),
                },
            },
        },
        "/v1/audio/transcriptions": _openai_route("OpenAI-compatible transcription of an uploaded file"),
        "/v1/audio/translations": _openai_route("OpenAI-compatible translation to English of an uploaded file"),
        "/v1/models": {
            "get": {
                "summary": "OpenAI-compatible list of the models installed here (and whisper-1: the default)",
                "responses": {
                    "200": {
                        "description": "OpenAI's list shape",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OpenAiModelList"}}},
                    },
                    "401": {"description": "Missing or invalid API key (OpenAI's error shape)"},
                },
            }
        },
        "/v1/models/{id}": {
            "get": {
                "summary": "OpenAI-compatible view of one model",
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {
                    "200": {
                        "description": "OpenAI's model shape",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OpenAiModel"}}},
                    },
                    "401": {"description": "Missing or invalid API key (OpenAI's error shape)"},
                    "404": {"description": "No such model here (OpenAI's error shape, code model_not_found)"},
                },
            }
        },
        "/api/v1/transcriptions/{id}/chunks": {
            "get": {
                "summary": "The text so far: each chunk's own transcript as it finishes, before the job's merge",
                "parameters": [
                    _ID,
                    {"name": "from", "in": "query", "schema": {"type": "integer", "minimum": 0, "default": 0}},
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
                        "description": "chunks in one answer at most",
                    },
                ],
                "responses": {
                    "200": {
                        "description": "Chunks from index `from` on, in order, up to the first not yet done "
                        "(at most `limit`), with the job's custom spellings; ask again from `next`. Empty once the job is published (read its transcript then)",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ChunkTexts"}}},
                    },
                    **_errors(400, 401, 404, 429),
                },
            },
        },
        "/api/v1/transcriptions/{id}/speakers": {
            "put": {
                "summary": "Name the transcript's speakers: stored with the job, shown in its downloads",
                "parameters": [_ID],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SpeakerNames"}}},
                },
                "responses": {
                    "200": {
                        "description": "The job, with its speaker_names",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Transcription"}}},
                    },
                    **_errors(400, 401, 404, 409, 413, 429),
                },
            },
        },
        "/api/v1/transcriptions/{id}/media": {
            "post": {
                "summary": "A 15-minute URL (/media/<token>) that plays this job's source, for a <video> element",
                "parameters": [_ID],
                "responses": {"201": {"description": "The URL"}, **_errors(401, 404, 429)},
            },
        },
    },
}


# A batch takes a single job's options, each applied to every job (one source of truth: the
# transcription's schema), and names its files by a list or a prefix instead of one source.
_SCHEMAS: dict[str, Any] = OPENAPI["components"]["schemas"]  # type: ignore[index]
_SCHEMAS["OpenAiModel"] = {
    "type": "object",
    "required": ["id", "object", "created", "owned_by"],
    "properties": {
        "id": {"type": "string", "description": "a model name for the form's model field"},
        "object": {"const": "model"},
        "created": {"type": "integer", "description": "when it was installed (Unix seconds; 0: an alias)"},
        "owned_by": {"type": "string"},
    },
}
_SCHEMAS["OpenAiModelList"] = {
    "type": "object",
    "required": ["object", "data"],
    "properties": {
        "object": {"const": "list"},
        "data": {"type": "array", "items": {"$ref": "#/components/schemas/OpenAiModel"}},
    },
}
_SCHEMAS["CreateBatch"] = {
    "type": "object",
    "additionalProperties": False,
    "description": "sources or source_prefix (one of them), and the options of a single job, applied to "
    "every job. A batch is made whole or not at all: it needs as many free job slots as it has files "
    "(else 429 quota_exceeded).",
    "properties": {
        "sources": {
            "type": "array",
            "minItems": 1,
            "items": {"type": "string", "minLength": 1},
            "description": "gs:// URIs, each checked as a single job's source; at most KSCRIBE_MAX_BATCH_JOBS "
            "(500, else too_many_sources); none twice",
        },
        "source_prefix": {
            "type": "string",
            "minLength": 1,
            "description": "gs://bucket/prefix/ inside one of the tenant's source prefixes: every media file "
            "under it (at most KSCRIBE_MAX_BATCH_JOBS, else too_many_sources)",
        },
        "job_callbacks": {
            "type": "boolean",
            "default": True,
            "description": "false: only the batch calls callback_url back (once, batch.completed); true: each "
            "job does too",
        },
        **{k: v for k, v in _SCHEMAS["CreateTranscription"]["properties"].items() if k != "source"},
    },
}
_SCHEMAS["SpeakerNames"] = {
    "type": "object",
    "required": ["names"],
    "additionalProperties": False,
    "properties": {
        "names": {
            "type": "object",
            "title": f"an object of at most {MAX_NAMES} speaker labels, each with a name of one line "
            f"of at most {MAX_NAME_CHARS} characters",
            "maxProperties": MAX_NAMES,
            "propertyNames": {"maxLength": MAX_NAME_CHARS},
            "additionalProperties": {
                "type": "string",
                "maxLength": MAX_NAME_CHARS,
                "pattern": NAME_PATTERN,
            },
            "description": 'label as heard → name: {"channel 1": "Alice"}; replaces the names given before '
            "(an empty name keeps the label)",
        }
    },
}
_SCHEMAS["ChunkTexts"] = {
    "type": "object",
    "properties": {
        "chunks": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "index": {"type": "integer"},
                    "start_s": {"type": "number"},
                    "duration_s": {"type": "number"},
                    "channel": {"type": "integer", "description": "0: every channel mixed"},
                    "text": {"type": "string"},
                    "segments": {"type": "array", "items": {"type": "object"}},
                },
            },
        },
        "next": {"type": "integer"},
        "total": {"type": "integer"},
    },
}
