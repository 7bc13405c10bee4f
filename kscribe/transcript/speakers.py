"""Who speaks when: voice turns clustered into speakers, and words labelled with them.

The diarize stage stores, per chunk, its speech turns (windows of about 1.5 s inside the
speech) and one voice embedding per turn (``kscribe.asr.voices``). Publish clusters the turns of
the whole job at once — so a voice gets the same label in every chunk, however the audio was
cut — and gives each word the speaker whose turns cover most of it. numpy only: publish and
the API never load torch.

The clustering is the spectral clustering senko and 3D-Speaker use for CAM++ embeddings
(``senko/cluster/cluster_cpu.py``, Apache-2.0): cosine affinities, each row pruned to its
strongest few, the unnormalised Laplacian, the number of speakers at the largest eigengap,
k-means on the spectral embedding; then clusters of fewer than four turns join their
nearest neighbour and clusters whose centres are closer than ``MERGE_COSINE`` merge.
"""

from __future__ import annotations

import bisect
import io
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from kscribe.errors import InputError
from kscribe.values import Segment, Word

# The bounds a job may give for how many speakers there are.
MIN_SPEAKERS, MAX_SPEAKERS = 1, 20
# Without a count: senko's search range upper end, and its settings for the steps below.
DEFAULT_MAX_SPEAKERS = 15
_PRUNE_KEEP = 0.012  # fraction of each affinity row kept (at least _PRUNE_MIN entries)
# senko keeps 6: on a few hundred turns that split one voice into a cluster per sentence
# (bench/reports/diarize.md), 20 did not; a short clip keeps senko's 6 (20 of ~25 turns is
# no pruning, and its one short turn then joined the wrong voice).
_PRUNE_MIN, _PRUNE_MAX_MIN = 6, 20
_MIN_CLUSTER = 4
MERGE_COSINE = 0.875
# Fewer turns than this are one speaker unless the job says otherwise (about 6 s of speech).
_FEW_TURNS = 10
# Spectral clustering is quadratic in turns: past this many (about 20 minutes of speech),
# an even sample is clustered and every turn joins its nearest cluster centre.
MAX_CLUSTERED = 2000


@dataclass(frozen=True)
class Turns:
    """Speech turns (``spans``: start, end in seconds) and one embedding per turn."""

    spans: np.ndarray  # (n, 2) float64
    embeddings: np.ndarray  # (n, dim) float32

    def __len__(self) -> int:
        return int(self.spans.shape[0])

    def to_bytes(self) -> bytes:
        out = io.BytesIO()
        np.savez(out, spans=self.spans.astype(np.float64), embeddings=self.embeddings.astype(np.float32))
        return out.getvalue()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Turns:
        # No pickles: these bytes come from the work bucket, not from code.
        with np.load(io.BytesIO(raw), allow_pickle=False) as data:
            return cls(
                spans=np.asarray(data["spans"], np.float64), embeddings=np.asarray(data["embeddings"], np.float32)
            )

    def shifted(self, offset: float, limit: float | None = None) -> Turns:
        spans = self.spans + offset
        if limit is not None:
            spans = np.minimum(spans, limit)
        return Turns(spans=spans, embeddings=self.embeddings)

    @classmethod
    def empty(cls, dim: int = 192) -> Turns:
        return cls(spans=np.zeros((0, 2), np.float64), embeddings=np.zeros((0, dim), np.float32))

    @classmethod
    def joined(cls, parts: Sequence[Turns]) -> Turns:
        if not parts:
            return cls.empty()
        return cls(
            spans=np.concatenate([p.spans for p in parts]).reshape(-1, 2),
            embeddings=np.concatenate([p.embeddings for p in parts]),
        )


@dataclass(frozen=True)
class SpeakerCount:
    """What a job says about how many speakers there are (0: not said)."""

    num: int = 0
    minimum: int = 0
    maximum: int = 0


def check_count(num: int | None, minimum: int | None, maximum: int | None) -> SpeakerCount:
    """The counts a job gives, each within 1..20 and min ≤ max (num within both); raises
    ``InputError`` naming the bad one."""
    for name, value in (("num_speakers", num), ("min_speakers", minimum), ("max_speakers", maximum)):
        if value is not None and (isinstance(value, bool) or not MIN_SPEAKERS <= value <= MAX_SPEAKERS):
            raise InputError(f"{name} must be a whole number from {MIN_SPEAKERS} to {MAX_SPEAKERS}, not {value!r}")
    if minimum is not None and maximum is not None and minimum > maximum:
        raise InputError(f"min_speakers ({minimum}) is more than max_speakers ({maximum})")
    if num is not None and ((minimum is not None and num < minimum) or (maximum is not None and num > maximum)):
        raise InputError(f"num_speakers ({num}) is outside min_speakers..max_speakers")
    return SpeakerCount(num=num or 0, minimum=minimum or 0, maximum=maximum or 0)


def _unit(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.asarray(x / np.maximum(norms, 1e-12), np.float64)


def _kmeans(x: np.ndarray, k: int, seed: int = 0, tries: int = 10, iterations: int = 100) -> np.ndarray:
    """Lloyd's k-means with k-means++ starts, the best of ``tries``; deterministic."""
    rng = np.random.default_rng(seed)
    best, best_cost = np.zeros(len(x), int), np.inf
    for _ in range(tries):
        centres = [x[rng.integers(len(x))]]
        for _ in range(1, k):
            d2 = np.min(((x[:, None, :] - np.array(centres)[None]) ** 2).sum(-1), axis=1)
            total = d2.sum()
            centres.append(x[rng.choice(len(x), p=d2 / total)] if total > 0 else x[rng.integers(len(x))])
        c = np.array(centres)
        labels = np.zeros(len(x), int)
        for _ in range(iterations):
            labels_new = ((x[:, None, :] - c[None]) ** 2).sum(-1).argmin(1)
            if np.array_equal(labels_new, labels) and _ > 0:
                break
            labels = labels_new
            for j in range(k):
                if np.any(labels == j):
                    c[j] = x[labels == j].mean(0)
        cost = float(((x - c[labels]) ** 2).sum())
        if cost < best_cost:
            best, best_cost = labels, cost
    return best


def _spectral(x: np.ndarray, count: SpeakerCount) -> np.ndarray:
    n = len(x)
    affinity = x @ x.T
    drop = min(int((1 - _PRUNE_KEEP) * n), n - max(_PRUNE_MIN, min(_PRUNE_MAX_MIN, n // 10)))
    if drop > 0:
        weakest = np.argsort(affinity, axis=1)[:, :drop]
        np.put_along_axis(affinity, weakest, 0.0, axis=1)
    affinity = 0.5 * (affinity + affinity.T)
    np.fill_diagonal(affinity, 0.0)
    laplacian = np.diag(np.abs(affinity).sum(1)) - affinity
    eigenvalues, eigenvectors = np.linalg.eigh(laplacian)
    if count.num:
        k = count.num
    else:
        low = max(count.minimum, MIN_SPEAKERS)
        high = min(count.maximum or DEFAULT_MAX_SPEAKERS, n - 1)
        gaps = np.diff(eigenvalues[low - 1 : high + 1])
        k = int(np.argmax(gaps)) + low if len(gaps) else low
    k = max(1, min(k, n))
    return _kmeans(eigenvectors[:, :k], k)


def _centres(x: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ids = np.unique(labels)
    return ids, _unit(np.stack([x[labels == i].mean(0) for i in ids]))


def _tidy(x: np.ndarray, labels: np.ndarray, count: SpeakerCount) -> np.ndarray:
    """Fold tiny clusters into their nearest big one, then merge near-identical voices,
    never below the job's minimum."""
    labels = labels.copy()
    floor = max(count.minimum, 1)
    ids, sizes = np.unique(labels, return_counts=True)
    major = ids[sizes >= _MIN_CLUSTER]
    if 0 < len(major) < len(ids) and len(major) >= floor:
        major_ids, centres = _centres(x, np.where(np.isin(labels, major), labels, -1))
        keep = major_ids != -1
        major_ids, centres = major_ids[keep], centres[keep]
        for i in np.flatnonzero(~np.isin(labels, major)):
            labels[i] = major_ids[int(np.argmax(centres @ x[i]))]
    while True:
        ids, centres = _centres(x, labels)
        if len(ids) <= floor:
            break
        similarity = np.triu(centres @ centres.T, 1)
        a, b = np.unravel_index(int(np.argmax(similarity)), similarity.shape)
        if similarity[a, b] < MERGE_COSINE:
            break
        labels[labels == ids[b]] = ids[a]
    return labels


def cluster(embeddings: np.ndarray, count: SpeakerCount = SpeakerCount()) -> np.ndarray:
    """A speaker id (0, 1, …, in no particular order) for each embedding."""
    n = len(embeddings)
    if n == 0:
        return np.zeros(0, int)
    x = _unit(embeddings)
    wanted = count.num or count.minimum
    if n < _FEW_TURNS and wanted <= 1:
        return np.zeros(n, int)
    if n <= max(wanted, 1):
        return np.arange(n)
    sample = np.arange(n) if n <= MAX_CLUSTERED else np.linspace(0, n - 1, MAX_CLUSTERED).round().astype(int)
    labels = _spectral(x[sample], count)
    if not count.num:
        labels = _tidy(x[sample], labels, count)
    if len(sample) == n:
        return labels
    ids, centres = _centres(x[sample], labels)
    return np.asarray(ids[np.argmax(x @ centres.T, axis=1)])


def timeline(spans: np.ndarray, labels: np.ndarray) -> list[tuple[float, float, int]]:
    """Turns as (start, end, speaker) runs in time order: overlapping turns of one speaker
    join, overlapping turns of two meet halfway through their overlap."""
    runs: list[list[float]] = []
    for i in np.argsort(spans[:, 0], kind="stable"):
        start, end, who = float(spans[i, 0]), float(spans[i, 1]), int(labels[i])
        if runs and start < runs[-1][1]:
            if runs[-1][2] == who:
                runs[-1][1] = max(runs[-1][1], end)
                continue
            middle = (start + runs[-1][1]) / 2
            if end <= middle:
                continue
            runs[-1][1] = middle
            start = middle
        runs.append([start, end, who])
    return [(s, e, int(w)) for s, e, w in runs if e > s]


def _speaker_at(runs: list[tuple[float, float, int]], starts: list[float], start: float, end: float) -> int:
    """The speaker covering most of [start, end]; the nearest run's if none covers it."""
    if not runs:
        return -1
    i = bisect.bisect_right(starts, end)
    cover: dict[int, float] = {}
    j = i - 1
    while j >= 0 and runs[j][1] > start - 30.0:  # runs are short: look back a little
        overlap = min(end, runs[j][1]) - max(start, runs[j][0])
        if overlap > 0:
            cover[runs[j][2]] = cover.get(runs[j][2], 0.0) + overlap
        j -= 1
    if cover:
        return max(cover, key=lambda w: cover[w])
    middle = (start + end) / 2
    nearest = [k for k in (i - 1, i) if 0 <= k < len(runs)]
    return min((runs[k] for k in nearest), key=lambda r: max(r[0] - middle, middle - r[1], 0.0))[2]


def label(segments: Sequence[Segment], turns: Turns, count: SpeakerCount = SpeakerCount()) -> tuple[Segment, ...]:
    """``segments`` with ``speaker`` set on every word and segment ("Speaker 1", … in order
    of first appearance), a segment split where its speaker changes. Unchanged if no
    speech turn was found."""
    if len(turns) == 0:
        return tuple(segments)
    runs = timeline(turns.spans, cluster(turns.embeddings, count))
    starts = [r[0] for r in runs]
    names: dict[int, str] = {}

    def name(who: int) -> str:
        if who < 0:
            return ""
        return names.setdefault(who, f"Speaker {len(names) + 1}")

    labelled: list[Segment] = []
    for segment in segments:
        if not segment.words:
            labelled.append(replace(segment, speaker=name(_speaker_at(runs, starts, segment.start, segment.end))))
            continue
        words = [replace(w, speaker=name(_speaker_at(runs, starts, w.start, w.end))) for w in segment.words]
        labelled.extend(_split(segment, words))
    return tuple(labelled)


def _split(segment: Segment, words: list[Word]) -> list[Segment]:
    """One segment per run of words with the same speaker (the whole one if just one)."""
    groups: list[list[Word]] = []
    for word in words:
        if groups and groups[-1][-1].speaker == word.speaker:
            groups[-1].append(word)
        else:
            groups.append([word])
    if len(groups) == 1:
        return [replace(segment, words=tuple(words), speaker=words[0].speaker)]
    pieces = []
    for n, group in enumerate(groups):
        pieces.append(
            replace(
                segment,
                start=segment.start if n == 0 else group[0].start,
                end=segment.end if n == len(groups) - 1 else group[-1].end,
                text="".join(w.word for w in group),
                words=tuple(group),
                speaker=group[0].speaker,
            )
        )
    return pieces
