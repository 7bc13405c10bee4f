"""A job's vocabulary: Whisper's initial prompt, hotwords, and custom spellings.

The prompt and hotwords steer the model (they reach faster-whisper through
``TranscribeOptions``); replacements are applied to the words in publish, timings kept.
All three are plain text a tenant may send: nothing here names or loads a file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace

from kscribe.choices import _PUNCTUATION, _norm, _tokens
from kscribe.values import Segment, Word


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
