"""A job's vocabulary: Whisper's initial prompt, hotwords, and custom spellings.

The prompt and hotwords steer the model (they reach faster-whisper through
``TranscribeOptions``); replacements are applied to the words in publish, timings kept.
All three are plain text a tenant may send: nothing here names or loads a file.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import replace

from kscribe.errors import InputError
from kscribe.values import Segment, Word

# Whisper keeps at most 223 tokens of a prompt (half its 448-token context); 800 characters
# of English is about 180 tokens. Hotwords share that budget.
MAX_PROMPT_CHARS = 800
MAX_HOTWORDS_CHARS = 400
MAX_REPLACEMENTS, MAX_REPLACEMENT_CHARS = 100, 100
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_PUNCTUATION = string.punctuation + "“”‘’«»¿¡…。、，？！：；"


def check_text(name: str, value: object, limit: int) -> str:
    """``value`` as a prompt or hotwords string: at most ``limit`` characters, no control characters."""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        value = ", ".join(v.strip() for v in value if v.strip())
    if not isinstance(value, str):
        raise InputError(f"{name} must be a string")
    value = value.strip()
    if len(value) > limit:
        raise InputError(f"{name} is {len(value)} characters, over the limit of {limit}")
    if _CONTROL.search(value):
        raise InputError(f"{name} contains control characters")
    return value


def parse_replacements(raw: object) -> dict[str, str]:
    """Custom spellings ``{"heard as": "written as"}``, from an object or its JSON text."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw) if raw.strip() else {}
        except ValueError:
            raise InputError('replacements must be a JSON object such as {"cube control": "kubectl"}') from None
    if not isinstance(raw, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in raw.items()):
        raise InputError("replacements must be an object of strings")
    if len(raw) > MAX_REPLACEMENTS:
        raise InputError(f"replacements has {len(raw)} entries, over the limit of {MAX_REPLACEMENTS}")
    out: dict[str, str] = {}
    for heard, written in raw.items():
        if not _tokens(heard) or not written.strip():
            raise InputError("replacements: every entry needs words on both sides")
        if max(len(heard), len(written)) > MAX_REPLACEMENT_CHARS or _CONTROL.search(heard + written):
            raise InputError(f"replacements: entries are at most {MAX_REPLACEMENT_CHARS} characters of plain text")
        out[heard.strip()] = written.strip()
    return out


def _norm(word: str) -> str:
    return word.strip().strip(_PUNCTUATION).casefold()


def _tokens(phrase: str) -> tuple[str, ...]:
    return tuple(t for t in (_norm(p) for p in phrase.split()) if t)


def _edges(word: str) -> tuple[str, str]:
    """The leading space and punctuation, and the trailing punctuation, of a word."""
    core = word.strip()
    lead = word[: len(word) - len(word.lstrip())] + core[: len(core) - len(core.lstrip(_PUNCTUATION))]
    trail = core[len(core.rstrip(_PUNCTUATION)) :]
    return lead, trail


def _replace_words(words: Sequence[Word], table: list[tuple[tuple[str, ...], str]]) -> tuple[Word, ...]:
    out: list[Word] = []
    norms = [_norm(w.word) for w in words]
    i = 0
    while i < len(words):
        for tokens, written in table:
            n = len(tokens)
            if tuple(norms[i : i + n]) == tokens:
                (lead, _), (_, trail) = _edges(words[i].word), _edges(words[i + n - 1].word)
                span = words[i : i + n]
                out.append(
                    Word(
                        span[0].start,
                        span[-1].end,
                        lead + written + trail,
                        min(w.probability for w in span),
                        span[0].speaker,
                    )
                )
                i += n
                break
        else:
            out.append(words[i])
            i += 1
    return tuple(out)


def apply_replacements(segments: Sequence[Segment], replacements: Mapping[str, str]) -> tuple[Segment, ...]:
    """``segments`` with each word sequence heard as a key written as its value (case and
    surrounding punctuation ignored when matching, kept in the output; longest key first).
    A replaced run of words becomes one word from the first's start to the last's end."""
    if not replacements:
        return tuple(segments)
    table = sorted(((_tokens(k), v) for k, v in replacements.items()), key=lambda kv: -len(kv[0]))
    out = []
    for s in segments:
        if s.words:
            words = _replace_words(s.words, table)
            text = "".join(w.word for w in words) if words != s.words else s.text
        else:
            words, text = (), s.text
            for tokens, written in table:
                pattern = r"(?<!\w)" + r"[\s\W]+".join(re.escape(t) for t in tokens) + r"(?!\w)"
                text = re.sub(pattern, written.replace("\\", "\\\\"), text, flags=re.IGNORECASE)
        out.append(replace(s, text=text, words=words))
    return tuple(out)
