"""The transcription part alone, for GPUs: a video's chunks (cut as the extract stage cuts
them) through kscribe's transcriber with a warm model, unbatched and batched, one process per
configuration so each one's GPU memory peak is its own. Prints JSON; with --out also writes
markdown.

    python bench/gpu_transcribe.py VIDEO --model small --device cuda --batch-sizes 0,16
    make bench-gpu                      # the same on bench/results/long-30.mp4, with CUDA libraries

Measured per configuration: model load, × real time of transcribing every chunk (after a
30-second warm-up that initialises CUDA kernels), word error rate against the video's
reference, and GPU memory (nvidia-smi, sampled every 50 ms: peak used, and peak above what
was in use before the model loaded). Runs on CPU too (GPU memory is then null), which is how
the script itself is checked on machines without a GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from long_video import cut

from kscribe.asr.whisper import WhisperTranscriber, options_from_settings, resolve_compute_type, resolve_device
from kscribe.media.decode import SAMPLE_RATE
from kscribe.settings import Settings
from kscribe.transcript.quality import word_error_rate

WARM_UP_S = 30


def _nvidia_smi(query: str) -> str | None:
    """One value of ``nvidia-smi --query-gpu`` for GPU 0; None without a GPU."""
    if not shutil.which("nvidia-smi"):
        return None
    out = subprocess.run(
        ["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader,nounits", "-i", "0"],
        capture_output=True,
        text=True,
    )
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else None


class GpuMemory:
    """Peak of nvidia-smi's memory.used (MiB) while running; None without a GPU."""

    def __init__(self):
        self.peak: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    @staticmethod
    def read() -> float | None:
        used = _nvidia_smi("memory.used")
        return float(used) if used is not None else None

    def _poll(self) -> None:
        while not self._stop.wait(0.05):
            used = self.read()
            if used is not None:
                self.peak = max(self.peak or 0.0, used)

    def __enter__(self) -> GpuMemory:
        if shutil.which("nvidia-smi"):
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


def chunks_of(video: Path, settings: Settings, scratch: Path) -> tuple[list[np.ndarray], float]:
    """The video's audio cut the way the extract stage cuts it."""
    audio, cuts = cut(video, scratch, settings.chunk_target_s, settings.parallel_chunks)
    pcm = np.memmap(audio.path, dtype="<i2", mode="r")
    return [np.asarray(pcm[start:end], dtype=np.float32) / 32768 for start, end in cuts], audio.duration_s


def one(args: argparse.Namespace) -> dict:
    env = dict(
        os.environ,
        KSCRIBE_MODEL=args.model,
        KSCRIBE_DEVICE=args.device,
        KSCRIBE_COMPUTE_TYPE=args.compute_type,
        KSCRIBE_BATCH_SIZE=str(args.batch_size),
        KSCRIBE_PARALLEL_CHUNKS=str(args.parallel),
        KSCRIBE_CHUNK_SECONDS=str(args.chunk_seconds),
    )
    env.setdefault("KSCRIBE_DATA_DIR", "/tmp/kscribe-bench")
    settings = Settings.from_env(env)
    reference = json.loads(Path(str(args.video) + ".json").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        pieces, duration = chunks_of(args.video, settings, Path(tmp))
    transcriber = WhisperTranscriber(settings.model_cache_dir)
    options = options_from_settings(settings)
    memory = GpuMemory()
    before = memory.read()
    with memory:
        started = time.perf_counter()
        transcriber.load(options)
        load_s = time.perf_counter() - started
        transcriber.transcribe(pieces[0][: WARM_UP_S * SAMPLE_RATE], options)
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=max(1, args.parallel)) as pool:
            recognitions = list(pool.map(lambda piece: transcriber.transcribe(piece, options), pieces))
        wall = time.perf_counter() - started
    text = " ".join(s.text.strip() for r in recognitions for s in r.segments)
    return {
        "model": args.model,
        "device": args.device,
        "compute_type": resolve_compute_type(options.compute_type, resolve_device(options.device)),
        "batch_size": args.batch_size,
        "parallel_chunks": args.parallel,
        "chunks": len(pieces),
        "audio_s": round(duration, 1),
        "model_load_s": round(load_s, 2),
        "transcribe_s": round(wall, 2),
        "x_real_time": round(duration / wall, 1),
        "wer": round(word_error_rate(reference["text"], text), 4),
        "gpu_memory_before_mib": before,
        "gpu_memory_peak_mib": memory.peak,
        "gpu_memory_peak_added_mib": (memory.peak - before) if memory.peak is not None and before is not None else None,
    }


def markdown(rows: list[dict], machine: str) -> str:
    lines = [
        f"# kscribe transcription on {machine}",
        "",
        "| model | device | batch size | parallel chunks | × real time (median) | runs | WER | model load | "
        "GPU memory peak (added) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        memory = (
            "n/a"
            if r["gpu_memory_peak_mib"] is None
            else f"{r['gpu_memory_peak_mib']:.0f} MiB ({r['gpu_memory_peak_added_mib']:.0f} MiB)"
        )
        lines.append(
            f"| {r['model']} | {r['device']}/{r['compute_type']} | {r['batch_size'] or 'unbatched'} | "
            f"{r['parallel_chunks']} | {r['x_real_time']} | {r['runs']} | {r['wer'] * 100:.2f} % | "
            f"{r['model_load_s']} s | {memory} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", type=Path)
    parser.add_argument("--model", default="small")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--compute-type", default="auto")
    parser.add_argument("--batch-sizes", default="0,16", help="0 is faster-whisper's sequential decoding")
    parser.add_argument(
        "--parallel", type=int, default=1, help="chunks transcribed at once (one per pod in production)"
    )
    parser.add_argument("--chunk-seconds", type=float, default=600)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, help="directory for gpu-report.json and gpu-report.md")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--batch-size", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args)))
        return
    rows = []
    for batch_size in [int(b) for b in args.batch_sizes.split(",")]:
        runs = []
        for _ in range(args.runs):
            command = [
                sys.executable,
                __file__,
                str(args.video),
                "--one",
                "--model",
                args.model,
                "--device",
                args.device,
                "--compute-type",
                args.compute_type,
                "--batch-size",
                str(batch_size),
                "--parallel",
                str(args.parallel),
                "--chunk-seconds",
                str(args.chunk_seconds),
            ]
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                sys.exit(f"batch size {batch_size} failed:\n{done.stderr[-3000:]}")
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(f"  batch size {batch_size}: {runs[-1]['x_real_time']}× real time", file=sys.stderr, flush=True)
        middle = sorted(runs, key=lambda r: r["x_real_time"])[len(runs) // 2]
        rows.append(
            {
                **middle,
                "runs": len(runs),
                "x_real_time_all": [r["x_real_time"] for r in runs],
                "x_real_time_median": statistics.median(r["x_real_time"] for r in runs),
            }
        )
    machine = _nvidia_smi("name") or f"CPU, {os.cpu_count()} cores"
    print(json.dumps({"machine": machine, "rows": rows}, indent=1))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "gpu-report.json").write_text(json.dumps({"machine": machine, "rows": rows}, indent=1))
        (args.out / "gpu-report.md").write_text(markdown(rows, machine))


if __name__ == "__main__":
    main()
