"""Subtitle shaping: a transcript's segments → cues people can read.

Pure: words in, cues out. A cue holds at most ``max_lines`` lines of at most
``max_line_chars`` columns and lasts at most ``max_cue_s``. Cues are cut on word timings:
at a sentence end first, then at clause punctuation, then at the longest pause, then at the
last word that fits; a word is never split (one longer than a line gets a line of its own).
Lines are balanced. Widths are display columns: a CJK character counts two, a combining
mark none, and CJK text joins without spaces (Whisper's words carry their own spaces).
A sentence's last one or two words never make a cue of their own: the cue before gives up
its last words so the sentence ends on a cue of three words or more.

A cue never holds two speakers' words: a change of speaker (``Word.speaker``, else its
segment's) ends a cue as a silence does, and each cue says whose it is. With ``labels``, the
first cue of each speaker's turn starts with ``[Speaker 1]``, shaped as a word of the cue
(so the label counts against the line width like any word).
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace

from kscribe.choices import Shaping
from kscribe.values import Segment, Word

# A cue is shown for at least this long, whatever the input's timings (one frame at 25 fps).
_MIN_VISIBLE_S = 0.04
# Cues compared for overlap on either side of each (a handful of voices overlap at most).
_NEAR = 8
# A pause this long always ends a cue.
_SILENCE_S = 1.0
_SENTENCE_END = tuple(".?!…。？！")
_CLAUSE_END = tuple(",;:、，；：—–")
# Closing marks that may follow the punctuation a break is judged by.
_CLOSERS = "\"'”’)]}」』）"


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    lines: tuple[str, ...]
    # Who says it ("" unknown).
    speaker: str = ""

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def char_width(char: str) -> int:
    if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def display_width(text: str) -> int:
    """Columns ``text`` takes on screen: wide (CJK) characters two, combining marks none."""
    return sum(char_width(c) for c in text)


def _words_of(segment: Segment) -> list[Word]:
    """The segment's words, or, without word timings, its text cut into words (CJK: one per
    character) with the segment's time shared out by length."""
    words = [w if w.speaker else replace(w, speaker=segment.speaker) for w in segment.words if w.word.strip()]
    if words or not segment.text.strip():
        return words
    pieces = re.findall(
        r"\s*[^\s\u3000-\u9fff\uac00-\ud7af\uff00-\uffef]+|\s*[\u3000-\u9fff\uac00-\ud7af\uff00-\uffef]", segment.text
    )
    total = sum(max(1, display_width(p.strip())) for p in pieces) or 1
    span, at, out = max(0.0, segment.end - segment.start), segment.start, []
    for piece in pieces:
        length = span * max(1, display_width(piece.strip())) / total
        out.append(Word(round(at, 3), round(at + length, 3), piece, 1.0, segment.speaker))
        at += length
    return out


def _ends_with(word: str, marks: tuple[str, ...]) -> bool:
    return word.strip().rstrip(_CLOSERS).endswith(marks)


# Titles Whisper writes with a full stop that never end a sentence.
_TITLES = frozenset({"mr.", "mrs.", "ms.", "dr.", "prof.", "st.", "vs.", "e.g.", "i.e."})


def ends_sentence(word: str) -> bool:
    """Whether ``word`` (as Whisper writes it, punctuation attached) ends a sentence."""
    return _ends_with(word, _SENTENCE_END) and word.strip().lower() not in _TITLES


def _join(words: Sequence[Word]) -> str:
    return "".join(w.word for w in words).strip()


def _wrap_count(widths: Sequence[int], spaces: Sequence[int], limit: int) -> int:
    """Lines the words take, filled greedily (a word wider than ``limit`` takes its own)."""
    lines, used = 0, 0
    for i, width in enumerate(widths):
        need = width + (spaces[i] if used else 0)
        if used and used + need > limit:
            lines, used = lines + 1, width
        else:
            used += need
    return lines + (1 if used or widths else 0)


def _lines(words: Sequence[Word], shaping: Shaping) -> tuple[str, ...]:
    """The fewest lines the words fit in (at most ``max_lines`` unless a word is too long),
    balanced: the break that makes the longest line shortest, the bottom line longer on a tie."""
    texts = [w.word for w in words]
    limit = shaping.max_line_chars
    if display_width(_join(words)) <= limit or len(words) == 1:
        return (_join(words),)
    count = _wrap_count(*_measure(words), limit)
    # Minimise the widest line over every way of cutting into `count` lines (few words: a
    # cue holds at most ~4 × 200 columns, so a quadratic table is small).
    n = len(texts)
    best: dict[tuple[int, int], tuple[int, int, tuple[int, ...]]] = {}

    def width(i: int, j: int) -> int:
        return display_width("".join(texts[i:j]).strip())

    def solve(i: int, lines_left: int) -> tuple[int, int, tuple[int, ...]]:
        # (widest line, -width of the last line, cut positions) for words[i:] in lines_left lines
        if (i, lines_left) in best:
            return best[(i, lines_left)]
        result: tuple[int, int, tuple[int, ...]]
        if lines_left == 1:
            result = (width(i, n), -width(i, n), ())
        else:
            result = (10**9, 0, ())
            for j in range(i + 1, n - lines_left + 2):
                rest = solve(j, lines_left - 1)
                candidate = (max(width(i, j), rest[0]), rest[1], (j, *rest[2]))
                result = min(result, candidate)
        best[(i, lines_left)] = result
        return result

    cuts = (0, *solve(0, min(count, n))[2], n)
    return tuple(_join(words[a:b]) for a, b in itertools.pairwise(cuts))


def _measure(words: Sequence[Word]) -> tuple[list[int], list[int]]:
    widths = [display_width(w.word.strip()) for w in words]
    spaces = [1 if w.word[:1].isspace() else 0 for w in words]
    return widths, spaces


def _fits(words: Sequence[Word], shaping: Shaping) -> bool:
    widths, spaces = _measure(words)
    if _wrap_count(widths, spaces, shaping.max_line_chars) > shaping.max_lines:
        return False
    return words[-1].end - words[0].start <= shaping.max_cue_s


def _break_after(words: Sequence[Word], fit: int) -> int:
    """How many of ``words`` (of which the first ``fit`` fit one cue) the cue takes: up to a
    sentence end, else clause punctuation, else the longest pause, else all that fit. A
    break leaving the cue under a third of what fits is passed over (no one-word cues)."""
    if fit >= len(words):
        return len(words)
    floor = max(1, fit // 3)
    candidates = range(floor, fit + 1)  # take words[:k]
    for ends_at in (ends_sentence, lambda word: _ends_with(word, _CLAUSE_END)):
        ends = [k for k in candidates if ends_at(words[k - 1].word)]
        if ends:
            return ends[-1]
    pauses = [(words[k].start - words[k - 1].end, k) for k in candidates if k < len(words)]
    gap, k = max(pauses, default=(0.0, fit))
    if gap >= 0.3:
        return k
    return fit


def _clean(words: Sequence[Word]) -> list[Word]:
    """Times that never run backwards and never end before they start."""
    out: list[Word] = []
    at = words[0].start if words else 0.0
    for w in words:
        start = max(w.start, at)
        end = max(w.end, start)
        out.append(Word(start, end, w.word, w.probability, w.speaker))
        at = start
    return out


def _cue_words(words: Sequence[Word], shaping: Shaping, labelled: bool = False) -> list[list[Word]]:
    """``words`` cut into cues; ``labelled``: the first word is a speaker label, which never
    makes a cue on its own."""
    groups: list[list[Word]] = []
    i = 0
    while i < len(words):
        fit = 1
        while i + fit < len(words) and _fits(words[i : i + fit + 1], shaping):
            fit += 1
        take = _break_after(words[i:], fit)
        if labelled and i == 0 and take == 1:
            take = min(2, len(words))
        tail = _sentence_tail(words, i + take)
        kept = _with_sentence_tail(words[i : i + take + tail], shaping, 2 if labelled and i == 0 else 1) if tail else []
        if kept:
            groups += kept
            i += take + tail
            continue
        groups.append(list(words[i : i + take]))
        i += take
    return groups


# A sentence ending in this many words or fewer after a cut is kept off a cue of its own.
_SHORT_TAIL = 2


def _sentence_tail(words: Sequence[Word], at: int) -> int:
    """How many words from ``at`` finish a sentence the cue before ``at`` left unfinished, if
    they are ``_SHORT_TAIL`` or fewer (0 otherwise)."""
    if at == 0 or at >= len(words) or ends_sentence(words[at - 1].word):
        return 0
    return next(
        (n for n in range(1, _SHORT_TAIL + 1) if at + n <= len(words) and ends_sentence(words[at + n - 1].word)), 0
    )


def _with_sentence_tail(words: Sequence[Word], shaping: Shaping, head_min: int) -> list[list[Word]]:
    """``words`` (a cue and the short end of its sentence) as one cue if they fit, else as two
    that fit with three words or more in the second (and in the first, where it can): at a
    clause end if one allows it, else at the longest pause of 0.3 s or more, else where the
    two are closest in width. [] if no cut fits (the cue stays as it was)."""
    if _fits(words, shaping):
        return [list(words)]
    cuts = [
        k for k in range(head_min, len(words) - _SHORT_TAIL) if _fits(words[:k], shaping) and _fits(words[k:], shaping)
    ]
    if not cuts:
        return []

    def preference(k: int) -> tuple[bool, bool, bool, float, int]:
        pause = words[k].start - words[k - 1].end
        balance = abs(display_width(_join(words[:k])) - display_width(_join(words[k:])))
        return (
            k <= _SHORT_TAIL,
            not _ends_with(words[k - 1].word, _CLAUSE_END),
            pause < 0.3,
            -pause if pause >= 0.3 else 0.0,
            balance,
        )

    k = min(cuts, key=preference)
    return [list(words[:k]), list(words[k:])]


def _runs(segments: Sequence[Segment]) -> list[list[Word]]:
    """The words of all segments in time order, in runs split where nobody speaks for
    ``_SILENCE_S`` and where the speaker changes: Whisper's segment ends fall mid-sentence
    often, silences never hold a cue, and a cue is one speaker's."""
    # Pieces first: a segment's words cut where the speaker changes or a silence falls (two
    # speakers' segments may overlap in time: one can hold a pause the other fills).
    pieces: list[list[Word]] = []
    for segment in segments:
        own: list[list[Word]] = []
        for word in _clean(_words_of(segment)):
            if own and own[-1][-1].speaker == word.speaker and word.start - own[-1][-1].end < _SILENCE_S:
                own[-1].append(word)
            else:
                own.append([word])
        pieces += own
    runs: list[list[Word]] = []
    for piece in sorted(pieces, key=lambda p: p[0].start):
        last = runs[-1][-1] if runs else None
        if last is not None and last.speaker == piece[0].speaker and piece[0].start - last.end < _SILENCE_S:
            runs[-1] = _clean(runs[-1] + piece)
        else:
            runs.append(piece)
    return runs


def speaker_label(speaker: str) -> str:
    """How a change of speaker is written into SRT and TXT text: ``[Speaker 1]``."""
    return f"[{speaker}]"


def _with_labels(runs: list[list[Word]]) -> list[tuple[list[Word], bool]]:
    """Each run, with the label of its speaker put first where the speaker changes (not
    again while the same speaker goes on across a silence), and whether it was."""
    out: list[tuple[list[Word], bool]] = []
    previous = ""
    for run in runs:
        speaker = run[0].speaker
        if speaker and speaker != previous:
            first = run[0]
            # A space after the label, also before a word that carries none (CJK).
            spaced = replace(first, word=" " + first.word.lstrip())
            label = Word(first.start, first.start, speaker_label(speaker), 1.0, speaker)
            out.append(([label, spaced, *run[1:]], True))
        else:
            out.append((run, False))
        previous = speaker
    return out


# Words a TXT line may gather without a sentence end before it ends with a segment.
_RUN_ON_WORDS = 60


def text_lines(segments: Sequence[Segment]) -> list[str]:
    """Plain text: one sentence a line, unwrapped, whatever Whisper's segments were (they end
    mid-sentence often, and may hold several), with ``speaker_label`` where the speaker
    changes (a change of speaker also starts a line). A transcript to read, not subtitles:
    no line width, no cues of one or two words. Speech without punctuation breaks at the
    first segment end after ``_RUN_ON_WORDS`` words, so it never becomes one endless line."""
    pieces: list[list[Word]] = []
    for segment in segments:
        own: list[list[Word]] = []
        for word in _clean(_words_of(segment)):
            if own and own[-1][-1].speaker == word.speaker:
                own[-1].append(word)
            else:
                own.append([word])
        pieces += own
    pieces.sort(key=lambda p: p[0].start)
    segment_ends = {id(piece[-1]) for piece in pieces}
    turns: list[list[Word]] = []
    for piece in pieces:
        if turns and turns[-1][-1].speaker == piece[0].speaker:
            turns[-1] += piece
        else:
            turns.append(list(piece))
    lines = []
    for turn, _ in _with_labels(turns):
        sentence: list[Word] = []
        for word in turn:
            sentence.append(word)
            if ends_sentence(word.word) or (len(sentence) >= _RUN_ON_WORDS and id(word) in segment_ends):
                lines.append(_join(sentence))
                sentence = []
        lines.append(_join(sentence))
    return [line for line in lines if line]


def shape(segments: Sequence[Segment], shaping: Shaping, labels: bool = False) -> list[Cue]:
    """Cues for ``segments`` (in time order); a cue may join the end of one segment to the
    start of the next, never across a silence or a change of speaker. Timings: at
    least ``min_cue_s`` where the next cue leaves room, at most ``max_cue_s``, and
    ``min_gap_s`` between cues (a cue ends early rather than overlap the next, unless the
    two are different speakers' words that overlap in time: those are shown at once, each
    at its own time). ``labels``:
    the first cue of each speaker's turn starts with ``speaker_label``."""
    runs = _with_labels(_runs(segments)) if labels else [(run, False) for run in _runs(segments)]
    raw = [
        (group[0].start, group[-1].end, _lines(group, shaping), group[0].speaker)
        for run, labelled in runs
        for group in _cue_words(run, shaping, labelled)
    ]
    cues: list[Cue] = []
    for i, (start, end, lines, speaker) in enumerate(raw):
        # Two voices at once (channels, speaker labels) each keep their own cue at its own
        # time, shown together; only cues that do not overlap make room for each other.
        near = range(max(0, i - _NEAR), min(len(raw), i + _NEAR + 1))
        apart = [j for j in near if j != i and not _overlap(raw[i], raw[j])]
        before = [cues[j].end for j in apart if j < i]
        if before:
            start = max(start, max(before) + shaping.min_gap_s)
        end = max(end, start + shaping.min_cue_s)
        after = [raw[j][0] for j in apart if j > i]
        if after:
            end = min(end, min(after) - shaping.min_gap_s)
        end = min(max(end, start + _MIN_VISIBLE_S), start + shaping.max_cue_s)
        cues.append(Cue(round(start, 3), round(end, 3), lines, speaker))
    return cues


def _overlap(a: tuple[float, float, tuple[str, ...], str], b: tuple[float, float, tuple[str, ...], str]) -> bool:
    """Two speakers' words at the same time."""
    return a[3] != b[3] and a[0] < b[1] and b[0] < a[1]
