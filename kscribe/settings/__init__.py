"""Every knob kscribe has, read once from a mapping (normally ``os.environ``).

No other module reads the environment: functions, the CLI and tests build a ``Settings``
and pass it down, so a test can say exactly which configuration it runs under. The fields are
declared by concern in ``groups.py``; ``Settings`` inherits every group, so ``settings.model``
reads the same whichever group declares it.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kscribe.choices import MAX_HOTWORDS_CHARS, MAX_PROMPT_CHARS, Shaping, check_text, parse_formats, parse_option
from kscribe.choices import OPTIONS as SHAPING_OPTIONS
from kscribe.errors import ConfigError, InputError
from kscribe.settings.groups import (
    MEDIA_EXTENSIONS,
    ApiSettings,
    AsrSettings,
    CallbackSettings,
    EventSettings,
    GuardSettings,
    LinkSettings,
    MediaSettings,
    ObservabilitySettings,
    OutputSettings,
    ReconcileSettings,
    StorageSettings,
    TenancySettings,
    VocabularySettings,
    track_choice,
)
from kscribe.values import DEFAULT_FORMATS, TASKS
from kscribe.values import FORMATS as ALL_FORMATS

__all__ = [
    "ALL_FORMATS",
    "DEFAULT_FORMATS",
    "GROUPS",
    "MAX_LANGUAGE_WINDOWS",
    "MEDIA_EXTENSIONS",
    "Settings",
    "parse_formats",
]

# Language detection windows a job may sample: each is one pass of the model's encoder.
MAX_LANGUAGE_WINDOWS = 20


def _default_data_dir(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_DATA_HOME") or str(Path(env.get("HOME", ".")) / ".local" / "share")
    return Path(base) / "kscribe"


@dataclass(frozen=True, kw_only=True)
class Settings(
    StorageSettings,
    MediaSettings,
    AsrSettings,
    GuardSettings,
    VocabularySettings,
    OutputSettings,
    ApiSettings,
    TenancySettings,
    ReconcileSettings,
    CallbackSettings,
    LinkSettings,
    EventSettings,
    ObservabilitySettings,
):
    """Configuration of one kscribe process. Build with :meth:`from_env`."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Read ``KSCRIBE_*`` (and ``REDIS_URL``) from ``env``; keyword overrides win."""
        env = os.environ if env is None else env
        values: dict[str, object] = {
            f.name: f.metadata["parse"](f.metadata["env"], env[f.metadata["env"]])
            for f in dataclasses.fields(cls)
            if "env" in f.metadata and env.get(f.metadata["env"])
        }
        data_dir = Path(str(values.get("data_dir") or _default_data_dir(env))).expanduser().absolute()
        values["data_dir"] = data_dir
        # Unless set, everything lives under the data directory.
        for name, under in (("input_uri", "input"), ("work_uri", "work"), ("output_uri", "output")):
            values.setdefault(name, str(data_dir / under))
        values.setdefault("model_cache_dir", data_dir / "models")
        values.setdefault("scratch_dir", data_dir / "scratch")
        # The emulator (and a local input directory) cannot take a browser's upload itself.
        values.setdefault(
            "web_uploads",
            "api" if env.get("STORAGE_EMULATOR_HOST") or not str(values["input_uri"]).startswith("gs://") else "direct",
        )
        values.update(overrides)
        settings = cls(**values)  # type: ignore[arg-type]
        settings.check()
        return settings

    def replace(self, **changes: Any) -> Settings:
        settings = dataclasses.replace(self, **changes)
        settings.check()
        return settings

    @property
    def shaping(self) -> Shaping:
        """The subtitle shaping every job gets unless it overrides some of it."""
        return Shaping(**{name: getattr(self, name) for name in SHAPING_OPTIONS})

    def check(self) -> None:
        for name in SHAPING_OPTIONS:
            try:
                parse_option(name, getattr(self, name))
            except InputError as exc:
                raise ConfigError(f"{_ENV[name]}: {exc}") from None
        if self.min_cue_s > self.max_cue_s:
            raise ConfigError("KSCRIBE_MIN_CUE_SECONDS is over KSCRIBE_MAX_CUE_SECONDS")
        for name, value, limit in (
            ("KSCRIBE_PROMPT", self.prompt, MAX_PROMPT_CHARS),
            ("KSCRIBE_HOTWORDS", self.hotwords, MAX_HOTWORDS_CHARS),
        ):
            try:
                check_text(name, value, limit)
            except InputError as exc:
                raise ConfigError(str(exc)) from None
        if not 0 <= self.vad_threshold <= 1 or not 0 <= self.drop_no_speech_prob <= 1:
            raise ConfigError("KSCRIBE_VAD_THRESHOLD and KSCRIBE_DROP_NO_SPEECH_PROB are probabilities (0 to 1)")
        for cidr in self.trusted_proxies:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ConfigError(f"KSCRIBE_TRUSTED_PROXIES: {cidr!r} is not an address or CIDR") from None
        track_choice("KSCRIBE_AUDIO_TRACK", self.audio_track)
        if self.language_windows > MAX_LANGUAGE_WINDOWS:
            raise ConfigError(f"KSCRIBE_LANGUAGE_WINDOWS is at most {MAX_LANGUAGE_WINDOWS} (each costs a model pass)")
        if self.task not in TASKS:
            raise ConfigError(f"task must be {' or '.join(TASKS)}, not {self.task!r}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"device must be auto, cpu or cuda, not {self.device!r}")
        if self.internal_port > 65535:
            raise ConfigError(f"KSCRIBE_INTERNAL_PORT must be a port number, not {self.internal_port}")
        if self.web_uploads not in ("api", "direct"):
            raise ConfigError(f"KSCRIBE_WEB_UPLOADS must be api or direct, not {self.web_uploads!r}")
        if self.links not in ("api", "gcs"):
            raise ConfigError(f"KSCRIBE_LINKS must be api or gcs, not {self.links!r}")
        if self.link_expiry_s > 7 * 24 * 3600:
            raise ConfigError(f"KSCRIBE_LINK_EXPIRY_SECONDS is at most 7 days (604800), not {self.link_expiry_s}")
        if self.event_auth not in ("", "oidc"):
            raise ConfigError(f"KSCRIBE_EVENT_AUTH must be empty or oidc, not {self.event_auth!r}")
        if self.event_auth == "oidc":
            missing = [
                name
                for name, value in (
                    ("KSCRIBE_EVENT_JWKS_URL", self.event_jwks_url),
                    ("KSCRIBE_EVENT_ISSUER", self.event_issuer),
                    ("KSCRIBE_EVENT_AUDIENCE", self.event_audience),
                    ("KSCRIBE_EVENT_SENDERS", self.event_senders),
                )
                if not value
            ]
            if missing:
                raise ConfigError(f"KSCRIBE_EVENT_AUTH=oidc needs {', '.join(missing)}")


# Each field's environment variable, for the errors of checks made after parsing.
_ENV = {f.name: f.metadata["env"] for f in dataclasses.fields(Settings) if "env" in f.metadata}


# The groups, in the order the README's tables show them: Settings' own bases.
GROUPS: tuple[type, ...] = Settings.__bases__
