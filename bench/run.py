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
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from child import run_child
from long_video import analyse, chunk_starts
from make_long_video import FORMAT, build

BENCH = Path(__file__).resolve().parent
PYTHON = sys.executable
TARGETS = {
    "end_to_end_ratio_max": 1.05,
    "extraction_x_min": 500,
    "extract_memory_ratio_max": 1.2,
    "wer_points_over_unchunked_max": 0.5,
    "passage_start_error_max_s": 0.5,
    "model_ready_max_s": 2.0,
    "duplicates_per_second_min": 1000,
}


def _json_run(args: list[str], env: dict | None = None) -> dict:
    done = subprocess.run([PYTHON, *args], capture_output=True, text=True, env=env, cwd=BENCH.parent)
    if done.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _timed(args: list[str], env: dict) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of a child process, measured through bench/peak.py."""
    child = run_child(args, env)
    return child["wall_s"], child["peak_mib"]


def _current(video: Path) -> bool:
    """``video`` and its reference exist and were made by this version of the generator."""
    reference = Path(str(video) + ".json")
    return video.exists() and reference.exists() and json.loads(reference.read_text()).get("format") == FORMAT


def videos(minutes: list[float], results: Path) -> dict[float, Path]:
    made = {}
    for m in minutes:
        path = results / "videos" / f"long-{m:g}.mp4"
        if not _current(path):
            build(m, path)
        made[m] = path
    return made


def _kscribe_run(video: Path, chunk_seconds: float, parallel: int = 0) -> tuple[float, float, dict]:
    """One `kscribe run` end to end in a fresh data directory: wall, peak RSS, transcript.
    ``parallel`` 0 is kscribe's default (one chunk per core on CPU)."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
        env.update(
            KSCRIBE_DATA_DIR=tmp, KSCRIBE_CHUNK_SECONDS=str(chunk_seconds), KSCRIBE_PARALLEL_CHUNKS=str(parallel)
        )
        wall, peak = _timed(["-m", "kscribe", "run", "-q", str(video), "--out", f"{tmp}/out"], env)
        return wall, peak, json.loads((Path(tmp) / "out" / f"{video.stem}.json").read_text())


def _bare_run(video: Path) -> tuple[float, dict]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bare.json"
        wall, _ = _timed([str(BENCH / "bare_whisper.py"), str(video), str(out)], dict(os.environ))
        return wall, json.loads(out.read_text())


def shifted(video: Path, offset_s: float) -> Path:
    """``video`` with ``offset_s`` of silence before its audio, and its reference shifted to
    match: the same speech under another alignment of Whisper's 30-second windows."""
    if offset_s == 0:
        return video
    out = video.with_name(f"{video.stem}-shift{offset_s:g}.mp4")
    if not _current(out):
        from kscribe.media.ffmpeg_bin import ffmpeg_executable

        subprocess.run(
            [
                ffmpeg_executable(),
                "-v",
                "error",
                "-y",
                "-i",
                str(video),
                "-af",
                f"adelay={int(offset_s * 1000)}",
                "-c:v",
                "copy",
                "-c:a",
                "aac",
                "-b:a",
                "48k",
                str(out),
            ],
            check=True,
        )
        reference = json.loads(Path(str(video) + ".json").read_text())
        for passage in reference["passages"]:
            passage["start_s"] = round(passage["start_s"] + offset_s, 3)
        reference["duration_s"] += offset_s
        Path(str(out) + ".json").write_text(json.dumps(reference))
    return out


def _mean(values: list[float]) -> float:
    return round(statistics.mean(values), 4)


def quality(video: Path, chunk_seconds: float, offsets: list[float], first_chunked: dict | None) -> dict:
    """Chunked against unchunked over several alignments; means decide, since shifting the
    audio alone moves word error rate by more than half a point (bench/README.md)."""
    per_offset = []
    for offset in offsets:
        v = shifted(video, offset)
        reference = json.loads(Path(str(v) + ".json").read_text())
        cuts = chunk_starts(v, chunk_seconds, parallel=min(os.cpu_count() or 1, 4))
        chunked = first_chunked if offset == 0 and first_chunked else _kscribe_run(v, chunk_seconds)[2]
        unchunked = _kscribe_run(v, 10**7, parallel=1)[2]
        per_offset.append(
            {
                "offset_s": offset,
                "chunked": analyse(chunked, reference, cuts),
                "unchunked": analyse(unchunked, reference, [0.0]),
            }
        )
        print(
            f"  offset {offset:g} s: WER chunked {per_offset[-1]['chunked']['wer']:.4f}, "
            f"unchunked {per_offset[-1]['unchunked']['wer']:.4f}",
            flush=True,
        )
    summary = {}
    for mode in ("chunked", "unchunked"):
        rows = [p[mode] for p in per_offset]
        summary[mode] = {
            "wer_mean": _mean([r["wer"] for r in rows]),
            "start_error_median_s": _mean([r["start_error_median_s"] for r in rows]),
            "start_error_p95_s": _mean([r["start_error_p95_s"] for r in rows]),
            "start_error_max_s": max(r["start_error_max_s"] for r in rows),
            "opening_missed": sum(r["opening_missed"] for r in rows),
        }
    after_cut = [
        p["chunked"]["start_error_after_cut_max_s"]
        for p in per_offset
        if p["chunked"]["start_error_after_cut_max_s"] is not None
    ]
    summary["chunked"]["after_cut_max_s"] = max(after_cut) if after_cut else None
    summary["chunked"]["passages_after_cut"] = sum(p["chunked"]["passages_right_after_a_cut"] for p in per_offset)
    summary["wer_points_over_unchunked"] = round(
        (summary["chunked"]["wer_mean"] - summary["unchunked"]["wer_mean"]) * 100, 2
    )
    return {"offsets": per_offset, **summary}


def compare(video: Path, runs: int, chunk_seconds: float) -> dict:
    """Speed: bare faster-whisper against `kscribe run`, alternating, medians of ``runs``;
    bare faster-whisper's transcript quality beside them."""
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
    unchunked_wall, _, _ = _kscribe_run(video, 10**7, parallel=1)
    bare, ks = statistics.median(bare_walls), statistics.median(kscribe_walls)
    duration = reference["duration_s"]
    return {
        "video": video.name,
        "duration_s": duration,
        "runs": runs,
        "chunks": len(cuts),
        "bare_wall_s": [round(w, 2) for w in bare_walls],
        "kscribe_wall_s": [round(w, 2) for w in kscribe_walls],
        "bare_median_s": round(bare, 2),
        "kscribe_median_s": round(ks, 2),
        "ratio": round(ks / bare, 3),
        "bare_x_real_time": round(duration / bare, 1),
        "kscribe_x_real_time": round(duration / ks, 1),
        "kscribe_peak_rss_mib": round(max(kscribe_peaks), 1),
        "kscribe_unchunked_wall_s": round(unchunked_wall, 2),
        "bare": analyse(bare_transcript, reference, [0.0]),
        "last_chunked_transcript": chunked_transcript,
    }


def markdown(report: dict) -> str:
    c, t, q = report["comparison"], report["targets"], report["quality"]
    by_length = report["stages"]
    rows = [
        (
            "end-to-end wall / bare faster-whisper",
            f"{c['ratio']:.3f} ({c['kscribe_median_s']} s vs {c['bare_median_s']} s, median of {c['runs']})",
            f"≤ {t['end_to_end_ratio_max']}",
            c["ratio"] <= t["end_to_end_ratio_max"],
        ),
        (
            "extraction speed (slowest video)",
            f"{min(e['extract_x_real_time'] for e in by_length)}× real time",
            f"≥ {t['extraction_x_min']}×",
            min(e["extract_x_real_time"] for e in by_length) >= t["extraction_x_min"],
        ),
        (
            "extract peak memory, longest / shortest",
            f"{report['extract_memory_ratio']:.3f}",
            f"≤ {t['extract_memory_ratio_max']}",
            report["extract_memory_ratio"] <= t["extract_memory_ratio_max"],
        ),
        (
            "chunked WER − unchunked WER (mean over alignments)",
            f"{q['wer_points_over_unchunked']:+.2f} points "
            f"({q['chunked']['wer_mean'] * 100:.2f} % vs {q['unchunked']['wer_mean'] * 100:.2f} %; bare faster-whisper "
            f"{c['bare']['wer'] * 100:.2f} %)",
            f"≤ +{t['wer_points_over_unchunked_max']}",
            q["wer_points_over_unchunked"] <= t["wer_points_over_unchunked_max"],
        ),
        (
            "passage start error, every passage (max), chunked / unchunked",
            f"{q['chunked']['start_error_max_s']} s / "
            f"{q['unchunked']['start_error_max_s']} s (p95 {q['chunked']['start_error_p95_s']} / "
            f"{q['unchunked']['start_error_p95_s']} s, medians {q['chunked']['start_error_median_s']} / "
            f"{q['unchunked']['start_error_median_s']} s)",
            f"≤ {t['passage_start_error_max_s']} s",
            q["chunked"]["start_error_max_s"] <= t["passage_start_error_max_s"],
        ),
        (
            "passage start error right after a cut (max)",
            f"{q['chunked']['after_cut_max_s']} s ({q['chunked']['passages_after_cut']} passages)",
            f"≤ {t['passage_start_error_max_s']} s",
            (q["chunked"]["after_cut_max_s"] or 0) <= t["passage_start_error_max_s"],
        ),
        (
            "cold start to model ready (median)",
            f"{report['cold_start']['model_ready_s']} s (first segment {report['cold_start']['first_segment_s']} s)",
            f"≤ {t['model_ready_max_s']} s",
            report["cold_start"]["model_ready_s"] <= t["model_ready_max_s"],
        ),
        (
            "duplicate notifications absorbed",
            f"{report['ingest']['per_second']}/s",
            f"≥ {t['duplicates_per_second_min']}/s",
            report["ingest"]["per_second"] >= t["duplicates_per_second_min"],
        ),
    ]
    lines = [
        f"# kscribe benchmark — {report['when']}",
        "",
        f"Machine: {report['machine']}",
        "",
        "| measure | result | target | met |",
        "|---|---|---|---|",
    ]
    lines += [f"| {a} | {b} | {c_} | {'yes' if ok else '**no**'} |" for a, b, c_, ok in rows]
    lines += [
        "",
        f"kscribe end to end: peak RSS {c['kscribe_peak_rss_mib']} MiB; {c['chunks']} chunks transcribed "
        f"in parallel; the same video as one chunk alone took {c['kscribe_unchunked_wall_s']} s.",
        "",
        "## Stages by video length",
        "",
        "Each stage in processes of its own, as in production: one transcribe process per chunk (two at a "
        "time), the Redis server outside them all. Peak resident memory:",
        "",
        "| video | duration | chunks (longest) | extract × real time | ingest | extract (ffmpeg) | "
        "transcribe, per chunk process | publish |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {e['video']} | {e['duration_s']:.0f} s | {e['chunks']} ({e['longest_chunk_s']:.0f} s) | "
        f"{e['extract_x_real_time']} | {e['ingest_peak_rss_mib']} MiB | {e['extract_peak_rss_mib']} MiB "
        f"({e['ffmpeg_peak_rss_mib']} MiB) | {e['transcribe_peak_rss_mib']} MiB | {e['publish_peak_rss_mib']} MiB |"
        for e in by_length
    ]
    lines += [
        "",
        "## Transcription quality by alignment",
        "",
        f"Start errors are taken over the passages whose first word was recognised "
        f"(of {q['offsets'][0]['chunked']['passages']}).",
        "",
        "| offset | WER chunked | WER unchunked | start p95 / max chunked | start p95 / max unchunked | "
        "first word not recognised (chunked/unchunked) |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {o['offset_s']:g} s | {o['chunked']['wer'] * 100:.2f} % | {o['unchunked']['wer'] * 100:.2f} % | "
        f"{o['chunked']['start_error_p95_s']} / {o['chunked']['start_error_max_s']} s | "
        f"{o['unchunked']['start_error_p95_s']} / {o['unchunked']['start_error_max_s']} s | "
        f"{o['chunked']['opening_missed']}/{o['unchunked']['opening_missed']} |"
        for o in q["offsets"]
    ]
    lines += ["", f"Bare faster-whisper on the same video: {json.dumps(c['bare'])}", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", default="5,30,60", help="video lengths for extraction and memory")
    parser.add_argument("--compare-minutes", type=float, default=30, help="video length for the comparison")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--chunk-seconds", type=float, default=600)
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    parser.add_argument("--offsets", default="0,1.3,2.6", help="audio offsets (s) the quality means are taken over")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    lengths = sorted({float(m) for m in args.minutes.split(",")} | {args.compare_minutes})
    made = videos(lengths, args.out)
    print("stages by video length…", flush=True)
    stages = [_json_run([str(BENCH / "stages.py"), str(made[m])]) for m in sorted(made)]
    peaks = [max(e["extract_peak_rss_mib"], e["ffmpeg_peak_rss_mib"]) for e in stages]
    print("cold start…", flush=True)
    colds = [_json_run([str(BENCH / "cold_start.py"), str(time.time()), "samples/meeting.mp4"]) for _ in range(5)]
    cold = {k: round(statistics.median(c[k] for c in colds), 3) for k in ("model_ready_s", "first_segment_s")}
    print("duplicate notifications…", flush=True)
    ingest = _json_run([str(BENCH / "ingest_rate.py"), "5000"])
    print(f"bare faster-whisper vs kscribe on {args.compare_minutes:g} minutes…", flush=True)
    comparison = compare(made[args.compare_minutes], args.runs, args.chunk_seconds)
    print("chunked against unchunked over alignments…", flush=True)
    quality_report = quality(
        made[args.compare_minutes],
        args.chunk_seconds,
        [float(o) for o in args.offsets.split(",")],
        comparison.pop("last_chunked_transcript"),
    )
    report = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "targets": TARGETS,
        "stages": stages,
        "extract_memory_ratio": round(peaks[-1] / peaks[0], 3),
        "cold_start": {**cold, "runs": colds},
        "ingest": ingest,
        "comparison": comparison,
        "quality": quality_report,
    }
    (args.out / "report.json").write_text(json.dumps(report, indent=1))
    (args.out / "report.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
