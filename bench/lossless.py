"""Does kscribe keep every stretch of speech? kscribe's defaults against bare faster-whisper
(sequential + VAD, and its BatchedInferencePipeline with batch 8), and kscribe with the
stack's 600 s chunks on the corpus of
bench/corpus.py: WER, words, uncovered speech (passages of the reference with no word in
them), passages whose opening is missed, passage start errors, CPU seconds, wall time, peak
memory. Configurations alternate within each round; the load average before each run is
kept. Every run is appended to ``OUT/lossless.runs.jsonl``; the table goes to ``OUT/lossless.md``.

    python bench/lossless.py CORPUS_DIR OUT_DIR [--runs 1] [--files prompts-long,dialogue]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
from pathlib import Path

from child import run_child
from long_video import analyse

from kscribe.transcript.quality import normalize, word_error_rate

BENCH = Path(__file__).resolve().parent
PYTHON = sys.executable
# kscribe-600: the stack's 600 s chunks (`kscribe run` makes 1800 s ones), where the corpus
# puts speaker turns right at the cuts.
CONFIGS = ("kscribe", "bare-seq", "bare-b8", "kscribe-600")
# A word belongs to a passage when its middle lies within this much of the passage's span.
SLACK_S = 0.3


def one_run(config: str, audio: Path) -> tuple[dict, dict]:
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KSCRIBE_") and k != "REDIS_URL"}
        if config.startswith("bare"):
            out = Path(tmp) / "bare.json"
            batch = "8" if config == "bare-b8" else "0"
            measured = run_child([str(BENCH / "bare_whisper.py"), str(audio), str(out), "--batch-size", batch], env)
            return measured, json.loads(out.read_text())
        env.update(KSCRIBE_DATA_DIR=tmp)
        if config == "kscribe-600":
            env.update(KSCRIBE_CHUNK_SECONDS="600")
        measured = run_child(
            ["-m", "kscribe", "run", "-q", str(audio), "--formats", "json", "--out", f"{tmp}/out"], env
        )
        return measured, json.loads((Path(tmp) / "out" / f"{audio.stem}.json").read_text())


def coverage(transcript: dict, reference: dict) -> dict:
    """Passages (speaker turns) with no word in them, and their seconds."""
    middles = sorted((w["start"] + w["end"]) / 2 for s in transcript["segments"] for w in s["words"])
    missing = [
        p
        for p in reference["passages"]
        if not any(p["start_s"] - SLACK_S <= m <= p["start_s"] + p["duration_s"] + SLACK_S for m in middles)
    ]
    return {
        "words": len(middles),
        "passages_missing": len(missing),
        "uncovered_speech_s": round(sum(p["duration_s"] for p in missing), 2),
        "missing": [f"{p['start_s']:.1f} s {p['speaker']}: {p['text'][:40]}" for p in missing[:5]],
    }


def cleaned(reference: dict) -> dict:
    """The reference without notes that are not words ("(9 seconds of silence)"): corpora built
    before corpus.py left them out have such passages of silence."""
    passages = []
    for p in reference["passages"]:
        text = " ".join(re.sub(r"\(.*?\)", "", p["text"]).split())
        if normalize(text):
            passages.append({**p, "text": text})
    return {**reference, "passages": passages, "text": " ".join(p["text"] for p in passages)}


def measure(config: str, audio: Path, reference: dict, keep: Path) -> dict:
    measured, transcript = one_run(config, audio)
    (keep / f"{audio.stem}.{config}.json").write_text(json.dumps(transcript))
    return scored({"config": config, "file": audio.stem, **measured}, transcript, reference)


def scored(measured: dict, transcript: dict, reference: dict) -> dict:
    """A run's measures with its transcript's scores against ``reference``."""
    reference = cleaned(reference)
    row = dict(measured)
    row["wer"] = round(word_error_rate(reference["text"], transcript["text"]), 4)
    row |= coverage(transcript, reference)
    # Start errors are judged by a passage's first two words: one-word prompts are left out.
    judged = {**reference, "passages": [p for p in reference["passages"] if len(normalize(p["text"])) >= 2]}
    starts = analyse(transcript, judged, []) if transcript["segments"] else {}
    row["start_error_p95_s"] = starts.get("start_error_p95_s")
    row["opening_missed"] = starts.get("opening_missed")
    if "coverage" in transcript:
        row["kscribe_coverage"] = transcript["coverage"]
    return row


def table(rows: list[dict]) -> list[str]:
    lines = [
        "| file | config | runs | WER % | words | uncovered speech s | turns missing | start err p95 s"
        " | CPU s | wall s | peak MiB | load before |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for file in dict.fromkeys(r["file"] for r in rows):
        for config in CONFIGS:
            runs = [r for r in rows if r["file"] == file and r["config"] == config]
            if not runs:
                continue

            def med(key: str, runs: list[dict] = runs) -> float:
                return statistics.median(r[key] for r in runs)

            lines.append(
                f"| {file} | {config} | {len(runs)} | {med('wer') * 100:.2f} | {med('words'):.0f}"
                f" | {med('uncovered_speech_s'):.1f} | {med('passages_missing'):.0f}"
                f" | {med('start_error_p95_s'):.2f} | {med('cpu_s'):.1f} | {med('wall_s'):.1f}"
                f" | {med('peak_mib'):.0f} | {', '.join(str(r['load_before']) for r in runs)} |"
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("corpus", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--files", default="dialogue,readings,prompts-long")
    parser.add_argument(
        "--rescore", action="store_true", help="score the runs in OUT again (the last transcript kept per file)"
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "lossless.runs.jsonl"
    if args.rescore:
        rows = []
        for line in log.read_text().splitlines():
            row = json.loads(line)
            kept = args.out / f"{row['file']}.{row['config']}.json"
            if kept.exists():
                measured = {k: row[k] for k in ("config", "file", "wall_s", "cpu_s", "peak_mib", "load_before")}
                reference = json.loads((args.corpus / f"{row['file']}.json").read_text())
                row = scored(measured, json.loads(kept.read_text()), reference)
            rows.append(row)
        (args.out / "lossless.md").write_text("\n".join(table(rows)) + "\n")
        print("\n".join(table(rows)))
        return
    rows = []
    for name in args.files.split(","):
        audio = args.corpus / f"{name}.wav"
        reference = json.loads((args.corpus / f"{name}.json").read_text())
        for n in range(args.runs):
            # Alternate: each round starts with the next configuration.
            for config in CONFIGS[n % len(CONFIGS) :] + CONFIGS[: n % len(CONFIGS)]:
                row = measure(config, audio, reference, args.out)
                rows.append(row)
                with log.open("a") as f:
                    f.write(json.dumps(row) + "\n")
                print(json.dumps(row), flush=True)
    (args.out / "lossless.md").write_text("\n".join(table(rows)) + "\n")
    print("\n".join(table(rows)))


if __name__ == "__main__":
    main()
