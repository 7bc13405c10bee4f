"""kscribe's exceptions.

Two families decide what a function answers. ``InputError`` (a ``ValueError``): the job can
never succeed as asked — it is recorded on the job as the failure reason and the event is
acknowledged, so nothing retries forever. ``TransientError``: the world hiccupped (storage,
Redis, the model host) — the request fails so the broker redelivers with backoff.
"""

from __future__ import annotations


class KscribeError(Exception):
    """Base of every error kscribe raises on purpose."""


class ConfigError(KscribeError, ValueError):
    """A setting is missing or malformed."""


class InputError(KscribeError, ValueError):
    """The job's input (or its request) is bad; retrying cannot help."""


class SourceNotFound(InputError):
    """The source object does not exist."""


class NotMedia(InputError):
    """The source is not an audio or video file ffmpeg can read."""


class NoAudioTrack(InputError):
    """The source is media, but has no audio stream to transcribe."""


class NoSuchAudioTrack(InputError):
    """The job asked for an audio track (by index or language) the source does not have."""


class EmptyAudioTrack(NoAudioTrack):
    """The source has an audio stream, but it holds no sound (zero length, or cut off before
    its first frame)."""


class MediaError(InputError):
    """ffmpeg failed on the source.

    The message is what the job records and the API and callbacks show: a plain sentence.
    ``stderr_tail`` holds the end of what ffmpeg said, which names paths on the worker and
    internals of ffmpeg: it goes to the log, never into the message.
    """

    def __init__(self, message: str, stderr_tail: str = ""):
        super().__init__(message)
        self.stderr_tail = stderr_tail


class UnsupportedContainer(NotMedia):
    """The file reads as a container kscribe does not open (a playlist, a script, an image)."""


class ImplausibleAudio(NotMedia):
    """The audio track declares parameters no recording has (a sample rate of 1 Hz)."""


class UnsupportedCodec(NotMedia):
    """The container reads, but its audio is in a codec kscribe cannot decode (or the bytes
    that name the codec are damaged)."""


class TooManyChannels(NotMedia):
    """The audio track has more channels than kscribe mixes down."""


class MediaTooLong(MediaError):
    """The recording is (or decodes to) more than the configured maximum duration."""


class ModelNotFound(InputError):
    """The requested model is not installed or not a model directory."""


class DailyQuotaExceeded(InputError):
    """The job's audio would take its tenant past the day's allowance."""


class OutputNotWritable(InputError):
    """The output location cannot be written."""


class CallbackRefused(InputError):
    """The callback URL is not allowed (not http(s), or resolves to an internal address)."""


class IdempotencyKeyReused(KscribeError):
    """An idempotency key sent again with a different request."""


class QuotaExceeded(KscribeError):
    """A tenant is at one of its limits (unfinished jobs, audio per day)."""


class QueueFull(QuotaExceeded):
    """The pipeline's backlog is at KSCRIBE_QUEUE_MAX_JOBS: the API refuses new jobs (429 with
    Retry-After) until it drains; uploads to the bucket still queue."""


class EventRejected(KscribeError):
    """An event that does not match the job it names (unknown job, other fields than the
    job's, a step the job is not at): dropped and counted, never acted on. ``reason`` is a
    bounded metric label."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


class TransientError(KscribeError):
    """A dependency failed in a way a retry may fix."""


class ScratchFull(TransientError):
    """The worker's scratch disk is full (ENOSPC, or ffmpeg's "No space left on device"): the
    worker's trouble, never the file's. Retried — in production the redelivery may land on
    another pod — and never recorded on the job as damaged input."""


class WorkClaimed(TransientError):
    """Another delivery of the same event is doing this work right now: answered retryably,
    so the redelivery finds its result (or, if that worker died, the claim expired)."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key
