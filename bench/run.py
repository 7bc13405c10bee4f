"""kscribe's benchmark: everything side by side on this machine, one command.

    python bench/run.py                       # 5/30/60-minute videos, 3 runs each comparison
    python bench/run.py --runs 1 --compare-minutes 5   # a quick pass

Writes bench/results/report.json and bench/results/report.md. Not part of the test suite:
timings need a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from long_video import analyse, chunk_starts
from make_long_video import build

BENCH = Path(__file__).resolve().parent
PYTHON = sys.executable
TARGETS = {
    "end_to_end_ratio_max": 1.05, "extraction_x_min": 500, "extract_memory_ratio_max": 1.2,
    "wer_points_over_unchunked_max": 0.5, "passage_start_error_max_s": 0.5, "model_ready_max_s": 2.0,
    "duplicates_per_second_min": 1000,
}


def _json_run(args: list[str], env: dict | None = None) -> dict:
    done = subprocess.run([PYTHON, *args], capture_output=True, text=True, env=env, cwd=BENCH.parent)
    if done.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _timed(args: list[str], env: dict) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of a child process, measured through bench/peak.py."""
    started = time.perf_counter()
    done = subprocess.run([PYTHON, str(BENCH / "peak.py"), PYTHON, *args], capture_output=True, text=True, env=env,
                          cwd=BENCH.parent)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
    peak_kib = int(done.stderr.strip().splitlines()[-1].split("=", 1)[1])
    return wall, peak_kib / 1024


def videos(minutes: list[float], results: Path) -> dict[float, Path]:
    made = {}
    for m in minutes:
        path = results / "videos" / f"long-{m:g}.mp4"
        if not path.exists() or not Path(str(path) + ".json").exists():
            build(m, path)
        made[m] = path
    return made


def _kscribe_run(video: Path, chunk_seconds: float, parallel: int = 0) -> tuple[float, float, dict]:
    """One `kscribe run` end to end in a fresh data directory: wall, peak RSS, transcript.
    ``parallel`` 0 is kscribe's default (one chunk per core on CPU)."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
        env.update(KSCRIBE_DATA_DIR=tmp, KSCRIBE_CHUNK_SECONDS=str(chunk_seconds),
                   KSCRIBE_PARALLEL_CHUNKS=str(parallel))
        wall, peak = _timed(["-m", "kscribe", "run", "-q", str(video), "--out", f"{tmp}/out"], env)
        return wall, peak, json.loads((Path(tmp) / "out" / f"{video.stem}.json").read_text())


def _bare_run(video: Path) -> tuple[float, dict]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bare.json"
        wall, _ = _timed([str(BENCH / "bare_whisper.py"), str(video), str(out)], dict(os.environ))
        return wall, json.loads(out.read_text())


def compare(video: Path, runs: int, chunk_seconds: float) -> dict:
    """Speed: bare faster-whisper against `kscribe run`, alternating, medians of ``runs``.
    Quality: kscribe chunked against kscribe unchunked (the same audio path, so only the cuts
    differ), with bare faster-whisper's figures beside them."""
    reference = json.loads(Path(str(video) + ".json").read_text())
    cuts = chunk_starts(video, chunk_seconds, parallel=min(os.cpu_count() or 1, 4))
    bare_walls, kscribe_walls, kscribe_peaks = [], [], []
    for run in range(runs):
        wall, bare_transcript = _bare_run(video)
        bare_walls.append(wall)
        wall, peak, chunked_transcript = _kscribe_run(video, chunk_seconds)
        kscribe_walls.append(wall)
        kscribe_peaks.append(peak)
        print(f"  run {run + 1}: bare {bare_walls[-1]:.1f} s, kscribe {kscribe_walls[-1]:.1f} s", flush=True)
    # Unchunked: one chunk for the whole video, transcribed alone (no parallel split).
    unchunked_wall, _, unchunked_transcript = _kscribe_run(video, 10**7, parallel=1)
    chunked = analyse(chunked_transcript, reference, cuts)
    unchunked = analyse(unchunked_transcript, reference, [0.0])
    bare, ks = statistics.median(bare_walls), statistics.median(kscribe_walls)
    duration = reference["duration_s"]
    return {
        "video": video.name, "duration_s": duration, "runs": runs, "chunks": len(cuts),
        "bare_wall_s": [round(w, 2) for w in bare_walls], "kscribe_wall_s": [round(w, 2) for w in kscribe_walls],
        "bare_median_s": round(bare, 2), "kscribe_median_s": round(ks, 2), "ratio": round(ks / bare, 3),
        "bare_x_real_time": round(duration / bare, 1), "kscribe_x_real_time": round(duration / ks, 1),
        "kscribe_peak_rss_mib": round(max(kscribe_peaks), 1), "kscribe_unchunked_wall_s": round(unchunked_wall, 2),
        "chunked": chunked, "unchunked": unchunked, "bare": analyse(bare_transcript, reference, [0.0]),
        "wer_points_over_unchunked": round((chunked["wer"] - unchunked["wer"]) * 100, 2),
    }


def markdown(report: dict) -> str:
    c, t = report["comparison"], report["targets"]
    ext = report["extraction"]
    rows = [
        ("end-to-end wall / bare faster-whisper", f"{c['ratio']:.3f} ({c['kscribe_median_s']} s vs {c['bare_median_s']} s, "
         f"median of {c['runs']})", f"≤ {t['end_to_end_ratio_max']}", c["ratio"] <= t["end_to_end_ratio_max"]),
        ("extraction speed (slowest video)", f"{min(e['x_real_time'] for e in ext)}× real time",
         f"≥ {t['extraction_x_min']}×", min(e["x_real_time"] for e in ext) >= t["extraction_x_min"]),
        ("extract peak memory, longest / shortest", f"{report['extract_memory_ratio']:.3f}",
         f"≤ {t['extract_memory_ratio_max']}", report["extract_memory_ratio"] <= t["extract_memory_ratio_max"]),
        ("chunked WER − unchunked WER", f"{c['wer_points_over_unchunked']:+.2f} points "
         f"({c['chunked']['wer'] * 100:.2f} % vs {c['unchunked']['wer'] * 100:.2f} %; bare faster-whisper "
         f"{c['bare']['wer'] * 100:.2f} %)",
         f"≤ +{t['wer_points_over_unchunked_max']}", c["wer_points_over_unchunked"] <= t["wer_points_over_unchunked_max"]),
        ("passage start error p95 (chunked)", f"{c['chunked']['start_error_p95_s']} s (max {c['chunked']['start_error_max_s']} s;"
         f" unchunked p95 {c['unchunked']['start_error_p95_s']} s)", f"≤ {t['passage_start_error_max_s']} s",
         c["chunked"]["start_error_p95_s"] <= t["passage_start_error_max_s"]),
        ("passage start error right after a cut (max)", f"{c['chunked']['start_error_after_cut_max_s']} s "
         f"({c['chunked']['passages_right_after_a_cut']} passages)", f"≤ {t['passage_start_error_max_s']} s",
         (c["chunked"]["start_error_after_cut_max_s"] or 0) <= t["passage_start_error_max_s"]),
        ("cold start to model ready (median)", f"{report['cold_start']['model_ready_s']} s "
         f"(first segment {report['cold_start']['first_segment_s']} s)", f"≤ {t['model_ready_max_s']} s",
         report["cold_start"]["model_ready_s"] <= t["model_ready_max_s"]),
        ("duplicate notifications absorbed", f"{report['ingest']['per_second']}/s", f"≥ {t['duplicates_per_second_min']}/s",
         report["ingest"]["per_second"] >= t["duplicates_per_second_min"]),
    ]
    lines = [f"# kscribe benchmark — {report['when']}", "", f"Machine: {report['machine']}", "",
             "| measure | result | target | met |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c_} | {'yes' if ok else '**no**'} |" for a, b, c_, ok in rows]
    lines += ["", f"kscribe end to end: peak RSS {c['kscribe_peak_rss_mib']} MiB; {c['chunks']} chunks transcribed "
              f"in parallel; the same video as one chunk alone took {c['kscribe_unchunked_wall_s']} s.",
              "", "## Extraction by video length", "", "| video | duration | × real time | stage peak RSS | ffmpeg peak RSS |",
              "|---|---|---|---|---|"]
    lines += [f"| {Path(e['video']).name} | {e['duration_s']:.0f} s | {e['x_real_time']} | {e['stage_peak_rss_mib']} MiB | "
              f"{e['ffmpeg_peak_rss_mib']} MiB |" for e in ext]
    lines += ["", "## Transcription quality", "", "```json", json.dumps({k: c[k] for k in ("chunked", "unchunked", "bare")},
                                                                       indent=1), "```", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", default="5,30,60", help="video lengths for extraction and memory")
    parser.add_argument("--compare-minutes", type=float, default=30, help="video length for the comparison")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--chunk-seconds", type=float, default=600)
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    lengths = sorted({float(m) for m in args.minutes.split(",")} | {args.compare_minutes})
    made = videos(lengths, args.out)
    print("extraction…", flush=True)
    extraction = [_json_run([str(BENCH / "extract_stage.py"), str(made[m])]) for m in sorted(made)]
    peaks = [max(e["stage_peak_rss_mib"], e["ffmpeg_peak_rss_mib"]) for e in extraction]
    print("cold start…", flush=True)
    colds = [_json_run([str(BENCH / "cold_start.py"), str(time.time()), "samples/meeting.mp4"]) for _ in range(5)]
    cold = {k: round(statistics.median(c[k] for c in colds), 3) for k in ("model_ready_s", "first_segment_s")}
    print("duplicate notifications…", flush=True)
    ingest = _json_run([str(BENCH / "ingest_rate.py"), "5000"])
    print(f"bare faster-whisper vs kscribe on {args.compare_minutes:g} minutes…", flush=True)
    comparison = compare(made[args.compare_minutes], args.runs, args.chunk_seconds)
    report = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "targets": TARGETS, "extraction": extraction, "extract_memory_ratio": round(peaks[-1] / peaks[0], 3),
        "cold_start": {**cold, "runs": colds}, "ingest": ingest, "comparison": comparison,
    }
    (args.out / "report.json").write_text(json.dumps(report, indent=1))
    (args.out / "report.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
