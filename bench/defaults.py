"""Which transcription defaults are fastest on this machine, at what cost in quality.

`kscribe run` end to end under several configurations — batched (BatchedInferencePipeline,
several batch sizes) or not, chunks in parallel or one at a time, threads per worker — and
bare faster-whisper's batched pipeline (batch 8, VAD, the same model) as the reference, on
generated videos of several lengths with known passage starts. Per run: wall time, user +
system CPU time, peak resident memory (bench/peak.py), word error rate and passage start
errors (bench/long_video.py's analysis).

Configurations are interleaved (A B C A B C …, the order turned each round) rather than
repeated back to back, so a neighbour's load spreads over all of them instead of landing on
one; CPU time is recorded beside wall time because it moves less with that load.

    python bench/defaults.py                                   # 1/5/30 minutes, 3/3/2 runs
    python bench/defaults.py --minutes 5 --runs 1 --configs u-p2t1,b8-p2t1,bare-b8   # a quick pass

Writes bench/results/defaults.json and bench/results/defaults.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from child import run_child
from long_video import analyse, chunk_starts
from run import videos

BENCH = Path(__file__).resolve().parent
PYTHON = sys.executable

# name → the kscribe environment it runs with; "bare-b8" is bare faster-whisper; "default" is
# whatever kscribe does with nothing set.
CONFIGS: dict[str, dict[str, str]] = {
    "default": {},
    "u-p2t1": {"KSCRIBE_BATCH_SIZE": "0", "KSCRIBE_PARALLEL_CHUNKS": "2", "KSCRIBE_CPU_THREADS": "1"},
    "u-p1t2": {"KSCRIBE_BATCH_SIZE": "0", "KSCRIBE_PARALLEL_CHUNKS": "1", "KSCRIBE_CPU_THREADS": "2"},
    "b4-p2t1": {"KSCRIBE_BATCH_SIZE": "4", "KSCRIBE_PARALLEL_CHUNKS": "2", "KSCRIBE_CPU_THREADS": "1"},
    "b8-p2t1": {"KSCRIBE_BATCH_SIZE": "8", "KSCRIBE_PARALLEL_CHUNKS": "2", "KSCRIBE_CPU_THREADS": "1"},
    "b16-p2t1": {"KSCRIBE_BATCH_SIZE": "16", "KSCRIBE_PARALLEL_CHUNKS": "2", "KSCRIBE_CPU_THREADS": "1"},
    "b4-p1t2": {"KSCRIBE_BATCH_SIZE": "4", "KSCRIBE_PARALLEL_CHUNKS": "1", "KSCRIBE_CPU_THREADS": "2"},
    "b8-p1t2": {"KSCRIBE_BATCH_SIZE": "8", "KSCRIBE_PARALLEL_CHUNKS": "1", "KSCRIBE_CPU_THREADS": "2"},
    "b16-p1t2": {"KSCRIBE_BATCH_SIZE": "16", "KSCRIBE_PARALLEL_CHUNKS": "1", "KSCRIBE_CPU_THREADS": "2"},
    "b8-p2t2": {"KSCRIBE_BATCH_SIZE": "8", "KSCRIBE_PARALLEL_CHUNKS": "2", "KSCRIBE_CPU_THREADS": "2"},
    "bare-b8": {},
    # Batched with Silero VAD's sequential pause (2000 ms) instead of the batched default.
    "b8v2000-p2t1": {
        "KSCRIBE_BATCH_SIZE": "8",
        "KSCRIBE_PARALLEL_CHUNKS": "2",
        "KSCRIBE_CPU_THREADS": "1",
        "KSCRIBE_VAD_MIN_SILENCE_MS": "2000",
    },
}


# What a full run measures: the quick pass (bench/reports/2026-11-23-defaults-cpu-2-cores.md)
# showed b4-p1t2, b8-p2t2 and b8v2000-p2t1 no better than these.
FULL = ["default", "u-p2t1", "u-p1t2", "b4-p2t1", "b8-p2t1", "b16-p2t1", "b8-p1t2", "b16-p1t2", "bare-b8"]
# On 30 minutes (a run takes 35–120 s here), the default, the previous default, the batch
# size and parallelism neighbours, and the reference.
LONG = ["default", "u-p2t1", "b16-p2t1", "b8-p1t2", "bare-b8"]


def _clean_env() -> dict[str, str]:
    """The caller's environment without any kscribe setting, so every configuration starts
    from kscribe's defaults."""
    return {k: v for k, v in os.environ.items() if not k.startswith("KSCRIBE_") and k != "REDIS_URL"}


def one_run(config: str, video: Path) -> tuple[dict, dict]:
    """One measured run of ``config`` on ``video``: its measures and its transcript."""
    with tempfile.TemporaryDirectory() as tmp:
        env = _clean_env()
        if config == "bare-b8":
            out = Path(tmp) / "bare.json"
            measured = run_child([str(BENCH / "bare_whisper.py"), str(video), str(out), "--batch-size", "8"], env)
            return measured, json.loads(out.read_text())
        env.update(KSCRIBE_DATA_DIR=tmp, **CONFIGS[config])
        measured = run_child(["-m", "kscribe", "run", "-q", str(video), "--out", f"{tmp}/out"], env)
        return measured, json.loads((Path(tmp) / "out" / f"{video.stem}.json").read_text())


def _parallel(config: str) -> int:
    """Chunks in parallel under ``config`` (2 cores: kscribe's automatic choice is 2)."""
    return int(CONFIGS[config].get("KSCRIBE_PARALLEL_CHUNKS", min(os.cpu_count() or 1, 4)))


def summarise(runs: list[dict]) -> dict:
    walls = [r["wall_s"] for r in runs]
    cpus = [r["cpu_s"] for r in runs]
    first = runs[0]["quality"]
    return {
        "runs": len(runs),
        "wall_median_s": round(statistics.median(walls), 2),
        "wall_min_s": min(walls),
        "wall_max_s": max(walls),
        "cpu_median_s": round(statistics.median(cpus), 2),
        "cpu_min_s": min(cpus),
        "cpu_max_s": max(cpus),
        "peak_mib": max(r["peak_mib"] for r in runs),
        "wer": round(statistics.median(r["quality"]["wer"] for r in runs), 4),
        "wer_spread": round(max(r["quality"]["wer"] for r in runs) - min(r["quality"]["wer"] for r in runs), 4),
        "start_error_median_s": first["start_error_median_s"],
        "start_error_p95_s": first["start_error_p95_s"],
        "start_error_max_s": max(r["quality"]["start_error_max_s"] for r in runs),
        "opening_missed": first["opening_missed"],
        "passages": first["passages"],
    }


# A load average (1 minute) below this, on 2 cores, counts as a quieter moment.
QUIET = 3.0


def _table(rows: dict[str, dict]) -> list[str]:
    bare = rows.get("bare-b8")
    lines = [
        "| config | runs | wall median (min–max) | vs bare | CPU s median (min–max) | WER | start error "
        "median / p95 / max | openings missed | peak MiB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, s in rows.items():
        ratio = f"{s['wall_median_s'] / bare['wall_median_s']:.2f}" if bare else "–"
        lines.append(
            f"| {name} | {s['runs']} | {s['wall_median_s']} s ({s['wall_min_s']}–{s['wall_max_s']}) | {ratio} | "
            f"{s['cpu_median_s']} ({s['cpu_min_s']}–{s['cpu_max_s']}) | {s['wer'] * 100:.2f} % | "
            f"{s['start_error_median_s']} / {s['start_error_p95_s']} / {s['start_error_max_s']} s | "
            f"{s['opening_missed']} | {s['peak_mib']} |"
        )
    return lines


def markdown(report: dict) -> str:
    lines = [
        f"# kscribe transcription defaults — {report['when']}",
        "",
        f"Machine: {report['machine']}. Load average over the runs: {report['load_min']}–{report['load_max']} "
        "(a shared machine: other work ran meanwhile, so wall times are noisy; configurations were "
        "interleaved and CPU time is given beside wall time).",
        "",
    ]
    for length in report["lengths"]:
        rows = report["results"][length]
        lines += [f"## {length} minutes ({rows[next(iter(rows))]['passages']} passages)", "", *_table(rows), ""]
        quiet = report.get("results_quiet", {}).get(length)
        if quiet:
            lines += [f"Runs started at a load average below {report['quiet_below']}:", "", *_table(quiet), ""]
    return "\n".join(lines)


def report(rows: list[dict]) -> dict:
    """The report over measured runs (one dict per run: length, config, measures, quality)."""
    lengths = sorted({r["minutes"] for r in rows})
    by: dict[float, dict[str, list[dict]]] = {m: {} for m in lengths}
    for r in rows:
        by[r["minutes"]].setdefault(r["config"], []).append(r)
    loads = [r["load_before"] for r in rows]
    return {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "model": "tiny.en int8 (kscribe's default)",
        "load_min": min(loads),
        "load_max": max(loads),
        "configs": {c: CONFIGS[c] for c in dict.fromkeys(r["config"] for r in rows)},
        "lengths": [f"{m:g}" for m in lengths],
        "results": {f"{m:g}": {c: summarise(by[m][c]) for c in by[m]} for m in lengths},
        # The same over the runs that started on a quieter machine (load average below QUIET).
        "quiet_below": QUIET,
        "results_quiet": {
            f"{m:g}": {
                c: summarise(quiet) for c in by[m] if (quiet := [r for r in by[m][c] if r["load_before"] < QUIET])
            }
            for m in lengths
        },
        "runs": rows,
    }


def _write(out: Path, name: str, rows: list[dict]) -> str:
    made = report(rows)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(made, indent=1))
    text = markdown(made)
    (out / f"{name}.md").write_text(text)
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", default="1,5,30")
    parser.add_argument("--runs", default="3,3,2", help="runs per length, in the order of --minutes")
    parser.add_argument("--configs", default=",".join(FULL), help=f"from {', '.join(CONFIGS)}")
    parser.add_argument("--long-configs", default=",".join(LONG), help="for videos of 30 minutes or more")
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    parser.add_argument("--name", default="defaults", help="file name of the report, without extension")
    parser.add_argument(
        "--report-from", type=Path, nargs="*", help="only write the report, from these runs files (.runs.jsonl)"
    )
    args = parser.parse_args()
    if args.report_from:
        rows = [json.loads(line) for path in args.report_from for line in path.read_text().splitlines() if line]
        print(_write(args.out, args.name, rows))
        return
    lengths = [float(m) for m in args.minutes.split(",")]
    runs = dict(zip(lengths, (int(r) for r in args.runs.split(",")), strict=True))
    short = [c.strip() for c in args.configs.split(",") if c.strip()]
    long = [c.strip() for c in args.long_configs.split(",") if c.strip()]
    unknown = [c for c in short + long if c not in CONFIGS]
    if unknown:
        sys.exit(f"unknown configuration(s): {', '.join(unknown)}")
    configs = {m: long if m >= 30 else short for m in lengths}
    made = videos(lengths, args.out)
    references = {m: json.loads(Path(str(made[m]) + ".json").read_text()) for m in lengths}
    cuts = {
        (m, p): chunk_starts(made[m], 600.0, p)
        for m in lengths
        for p in {_parallel(c) for c in configs[m] if c != "bare-b8"}
    }
    # Every run is appended as it ends, so an interrupted benchmark keeps what it measured.
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / f"{args.name}.runs.jsonl"
    log.write_text("")
    rows: list[dict] = []
    started = time.perf_counter()
    for round_ in range(max(runs.values())):
        for m in lengths:
            if round_ >= runs[m]:
                continue
            # Turn the order each round so no configuration always follows the same neighbour.
            turn = round_ % len(configs[m])
            for config in configs[m][turn:] + configs[m][:turn]:
                result, transcript = one_run(config, made[m])
                starts = [0.0] if config == "bare-b8" else cuts[(m, _parallel(config))]
                row = {"minutes": m, "config": config, "round": round_ + 1, **result}
                row["quality"] = analyse(transcript, references[m], starts)
                rows.append(row)
                with log.open("a") as f:
                    f.write(json.dumps(row) + "\n")
                print(
                    f"[{time.perf_counter() - started:6.0f} s] {m:g} min {config:9} round {round_ + 1}: "
                    f"wall {row['wall_s']:6.1f} s cpu {row['cpu_s']:6.1f} s "
                    f"peak {row['peak_mib']:6.0f} MiB WER {row['quality']['wer'] * 100:.2f} % "
                    f"start p95 {row['quality']['start_error_p95_s']} s (load {row['load_before']})",
                    flush=True,
                )
    print(_write(args.out, args.name, rows))


if __name__ == "__main__":
    main()
