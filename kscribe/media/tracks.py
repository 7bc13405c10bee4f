"""Which of a source's audio tracks a job transcribes.

A film carries its original language and its dubs as separate audio tracks, and the first
track is as often a dub as not. A job names its track by position among the audio tracks
("1", from 0: ffmpeg's ``0:a:1``) or by language ("de", "deu" or "ger": ISO 639-1 and both
forms of 639-2 name the same tracks). With no choice, kscribe takes the track the container
marks default, the one a player starts with, else the first.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from kscribe.errors import InputError, NoSuchAudioTrack
from kscribe.media.languages import same_language

# A language tag as a container may hold it: the primary subtag ("en" of "en-US") is what
# matches. Anything else in the tag (it is the file's to say) is dropped before it is shown.
_TAG_JUNK = re.compile(r"[^a-z0-9_-]")
_MAX_TAG_CHARS = 16
# Tracks listed in the error for a choice that matches none; a file may hold hundreds.
_MAX_LISTED = 16


@dataclass(frozen=True)
class AudioTrack:
    """One audio stream of a source, as its container describes it."""

    index: int  # among the source's audio streams, from 0
    codec: str = ""  # "" when kscribe has no decoder for it
    language: str = ""  # the container's tag, lower case; "" when untagged ("und" included)
    default: bool = False  # the container marks it as the one to play
    channels: int = 0
    sample_rate: int = 0
    channel_layout: str = ""

    @property
    def label(self) -> str:
        """What a job records as the track it used: ``1 (deu)``, or ``0`` untagged."""
        return f"{self.index} ({self.language})" if self.language else str(self.index)

    @property
    def listing(self) -> str:
        """How an error lists it: ``0 eng (default)``."""
        return " ".join(p for p in (str(self.index), self.language, "(default)" if self.default else "") if p)


def clean_tag(tag: str) -> str:
    """A container's language tag as kscribe shows and matches it ("" for none)."""
    tag = _TAG_JUNK.sub("", tag.strip().lower())[:_MAX_TAG_CHARS]
    return "" if tag == "und" else tag


def _primary(tag: str) -> str:
    return re.split(r"[-_]", tag, maxsplit=1)[0]


def choose(tracks: Sequence[AudioTrack], choice: str = "") -> AudioTrack:
    """The track ``choice`` (canonical, from ``parse_choice``) names among ``tracks``.

    "": the first track marked default, else the first. An index: that track. A language:
    among the tracks in that language, the one marked default, else the first. Raises
    ``NoSuchAudioTrack`` (listing the tracks there are) when nothing matches, and
    ``InputError`` when there are no tracks at all.
    """
    if not tracks:
        raise InputError("the file has no audio track to transcribe")
    if not choice:
        return next((t for t in tracks if t.default), tracks[0])
    if choice.isdigit():
        matches = [t for t in tracks if t.index == int(choice)]
    else:
        codes = same_language(choice)
        matches = [t for t in tracks if t.language and _primary(t.language) in codes]
    if not matches:
        listed = ", ".join(t.listing for t in tracks[:_MAX_LISTED])
        more = f", and {len(tracks) - _MAX_LISTED} more" if len(tracks) > _MAX_LISTED else ""
        raise NoSuchAudioTrack(f"no audio track {choice!r}; tracks: {listed}{more}")
    return next((t for t in matches if t.default), matches[0])
