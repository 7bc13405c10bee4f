"""``kscribe`` — transcribe videos on this machine, and look at jobs."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import redis
from tqdm import tqdm

from kscribe.asr import voices
from kscribe.choices import (
    MAX_HOTWORDS_CHARS,
    MAX_PROMPT_CHARS,
    JobChoices,
    check_text,
    parse_choice,
    parse_replacements,
    parse_subtitles,
)
from kscribe.choices import OPTIONS as SHAPING_OPTIONS
from kscribe.cli.live import LiveTranscript
from kscribe.cli.progress import TerminalProgress
from kscribe.errors import ConfigError, InputError, KscribeError
from kscribe.media.chunking import LOCAL_CHUNK_S, STACK_CHUNK_S
from kscribe.pipeline import backlog
from kscribe.runtime import wiring
from kscribe.settings import Settings, parse_formats
from kscribe.storage import scratch
from kscribe.transcript.speakers import check_count
from kscribe.values import CHANNEL_MODES, TASKS, Job, JobStatus

_AUDIO_TRACK_HELP = (
    "the audio track to transcribe: its index among the audio tracks (0, 1, …) or a language code "
    "(en, eng, de, deu, ger); default: the track marked default, else the first"
)


def _audio_track(raw: str) -> str:
    try:
        return parse_choice(raw, "--audio-track")
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--audio-track: ")) from None


def add_job_flags(command: argparse.ArgumentParser) -> None:
    """The options a job takes, the same for `run` and `submit` (read by ``job_choices``)."""
    command.add_argument("--model", help="tiny.en (default), base, small, a model directory, or gs://prefix")
    command.add_argument("--language", help="spoken language code, e.g. en; detected when omitted")
    command.add_argument(
        "--multilingual",
        action="store_true",
        default=None,
        help="speech that switches language: each 30 s window is decoded in the language detected for it",
    )
    command.add_argument("--task", choices=TASKS)
    command.add_argument("--audio-track", type=_audio_track, metavar="TRACK", help=_AUDIO_TRACK_HELP)
    command.add_argument("--formats", help="comma-separated: json,srt,vtt,txt,tsv,ass or all (default: all but ass)")
    command.add_argument("--prompt", help="Whisper's initial prompt for every chunk: names and spellings to expect")
    command.add_argument("--hotwords", help="words to favour, e.g. 'Zorblax, Quuxly'")
    command.add_argument(
        "--channels",
        choices=CHANNEL_MODES,
        help="split: transcribe each channel of a stereo track apart, labelled 'channel N' (default: mix)",
    )
    command.add_argument(
        "--replace",
        action="append",
        default=[],
        metavar="HEARD=WRITTEN",
        help="a custom spelling applied to the words, e.g. 'cube control=kubectl' (repeatable)",
    )
    for name, (kind, low, high) in SHAPING_OPTIONS.items():
        flag = "--" + name.removesuffix("_s").replace("_", "-") + ("-seconds" if name.endswith("_s") else "")
        bounds = f"{int(low)}–{int(high)}" if kind is int else f"{low:g}–{high:g} s"
        command.add_argument(flag, dest=f"subtitle_{name}", metavar="N", help=f"subtitle shaping: {bounds}")
    command.add_argument(
        "--speakers", action="store_true", help="label who speaks, by voice (needs pip install 'kscribe[diarize]')"
    )
    for which in ("num", "min", "max"):
        command.add_argument(
            f"--{which}-speakers",
            type=int,
            metavar="N",
            help=f"with --speakers: the {'exact' if which == 'num' else which + 'imum'} number of speakers (1–20)",
        )


def _speaker_choices(args: argparse.Namespace) -> dict[str, Any]:
    """The speaker flags as ``JobChoices`` fields, checked (``ConfigError`` when wrong)."""
    counts = (args.num_speakers, args.min_speakers, args.max_speakers)
    if not args.speakers:
        if any(c is not None for c in counts):
            raise ConfigError("--num-speakers, --min-speakers and --max-speakers need --speakers")
        return {}
    try:
        check_count(*counts)
    except InputError as exc:
        raise ConfigError(str(exc)) from None
    return {"speakers": True, "num_speakers": counts[0], "min_speakers": counts[1], "max_speakers": counts[2]}


def job_choices(args: argparse.Namespace) -> JobChoices:
    """The job flags, read and checked as the API reads its fields; ``ConfigError`` names the
    bad one. (What needs the deployment, such as the model's languages, is checked with the
    job: ``check_choices``.)"""
    formats = parse_formats(args.formats) if args.formats else None
    replacements = {}
    for pair in args.replace:
        heard, sep, written = pair.partition("=")
        if not sep:
            raise ConfigError(f"--replace {pair!r}: write it as HEARD=WRITTEN")
        replacements[heard] = written
    try:
        return JobChoices(
            model=args.model,
            language=args.language,
            multilingual=args.multilingual,
            task=args.task,
            formats=formats,
            channels=args.channels,
            audio_track=args.audio_track or None,
            prompt=check_text("--prompt", args.prompt or "", MAX_PROMPT_CHARS) or None,
            hotwords=check_text("--hotwords", args.hotwords or "", MAX_HOTWORDS_CHARS) or None,
            replacements=parse_replacements(replacements),
            subtitles=parse_subtitles(
                {
                    n: getattr(args, f"subtitle_{n}")
                    for n in SHAPING_OPTIONS
                    if getattr(args, f"subtitle_{n}") is not None
                }
            ),
            **_speaker_choices(args),
        )
    except InputError as exc:
        raise ConfigError(str(exc)) from None


def _version() -> str:
    """The installed distribution's version (from its metadata, so it is what pip installed)."""
    try:
        return metadata.version("kscribe")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kscribe", description="Turn videos into transcripts.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what each stage does")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="transcribe video or audio files through the full pipeline, locally")
    run.add_argument("videos", nargs="+", type=Path, metavar="VIDEO")
    add_job_flags(run)
    run.add_argument("--out", type=Path, help="output directory (default: the data directory's output/)")
    run.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="print only the output paths, one a line (and why a job failed, on stderr)",
    )

    keys = sub.add_parser("keys", help="manage API keys (stored hashed in Redis, each bound to a tenant)")
    keys.add_argument(
        "--embedded", action="store_true", help="use the embedded Redis even though this directory has a stack's .env"
    )
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser(
        "create", help="create a key; the token is printed once (a new tenant's callback secret too)"
    )
    create.add_argument("--tenant", required=True)
    create.add_argument("--name", default="")
    create.add_argument(
        "--source",
        action="append",
        default=[],
        metavar="PREFIX",
        help="let the tenant also use sources under gs://bucket/prefix/ (repeatable; its own "
        "upload prefix <input>/tenants/<tenant>/ is always allowed)",
    )
    keys_sub.add_parser("list", help="list keys (ids, tenants, state; never tokens)")
    revoke = keys_sub.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id")

    tenants = sub.add_parser("tenants", help="tenants: their sources, quotas and callback secrets")
    tenants_sub = tenants.add_subparsers(dest="tenants_command", required=True)
    tenants_sub.add_parser("list", help="every tenant with its sources and quotas")
    limits = tenants_sub.add_parser("set", help="set a tenant's quotas (0: the installation's default)")
    limits.add_argument("tenant")
    limits.add_argument("--max-active-jobs", type=int)
    limits.add_argument("--audio-hours-per-day", type=float)
    limits.add_argument("--source", action="append", default=[], metavar="PREFIX", help="add a source prefix")
    rotate = tenants_sub.add_parser("rotate-secret", help="a new callback signing secret, printed once")
    rotate.add_argument("tenant")

    usage = sub.add_parser("usage", help="what each tenant uses of its quotas today")
    usage.add_argument("--tenant", help="only this tenant")
    usage.add_argument("--json", action="store_true")

    status = sub.add_parser("status", help="show a job")
    status.add_argument("job_id", metavar="JOB", help="a job id, or its first 8 or more characters")
    status.add_argument("--json", action="store_true", help="print the job record as JSON")
    return parser


def describe(job: Job) -> str:
    lines = [f"job {job.id}: {job.status.value} ({job.progress:.0f}%)", f"  source: {job.source_uri}"]
    if job.chunks_total:
        lines.append(f"  audio: {job.duration_s:.1f} s in {job.chunks_total} chunk(s), {job.chunks_done} done")
    if job.audio_track_used:
        lines.append(f"  audio track: {job.audio_track_used}")
    if job.speakers:
        lines.append(f"  speakers: voices of {job.chunks_diarized} chunk(s) found")
    if job.detected_language:
        spoken = ", ".join(f"{k} {v:.0f} s" for k, v in job.languages.items())
        lines.append(
            f"  language: {job.detected_language}, model: {job.model}" + (f" (spoken: {spoken})" if spoken else "")
        )
    if job.coverage:
        c = job.coverage
        lines.append(
            f"  speech: {c.get('speech_s', 0):.1f} s, {c.get('uncovered_s', 0):.1f} s of it without words"
            f", {c.get('redecoded', 0):.0f} piece(s) decoded twice"
        )
    if job.channels_note:
        lines.append(f"  channels: {job.channels_note}")
    if job.timings:
        lines.append("  timings: " + ", ".join(f"{k} {v:.2f} s" for k, v in job.timings.items()))
    if job.error:
        lines.append(f"  error ({job.failed_stage}): {job.error}")
    lines += [f"  {fmt}: {uri}" for fmt, uri in job.outputs.items()]
    return "\n".join(lines)


def _local_parallelism(settings: Settings) -> int:
    """Chunks to transcribe at once on this machine: as set, else one, batched, with every
    core (CPU) or the whole GPU. Two chunks at once, each with its own batch, peaked at 1.5x
    bare faster-whisper's batched memory (issue 21); one peaked at 0.7x
    (bench/reports/2026-12-07-lossless-cpu-2-cores.md)."""
    return settings.parallel_chunks or 1


def _local_chunk_target(settings: Settings) -> float:
    """The chunk length: as set, else long chunks where one is decoded at a time (they only
    bound memory there; kscribe/media/chunking.py), the stack's where several are."""
    if settings.chunk_target_s:
        return settings.chunk_target_s
    return LOCAL_CHUNK_S if settings.parallel_chunks <= 1 else STACK_CHUNK_S


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from kscribe.pipeline.runner import LocalPipeline
    from kscribe.pipeline.stages.ingest import check_choices

    choices = job_choices(args)  # a bad flag stops before anything starts
    if choices.speakers:
        settings = settings.replace(diarize=True)
    # Checked once, here, with the operator's rights (model paths allowed). A language the
    # model does not speak stops the run; what else is refused fails the file's job, as a
    # bad file does.
    checked = check_choices(choices, settings, trusted=True)
    if checked.refused == "language":
        raise ConfigError(f"--{checked.problem}")
    if choices.speakers:
        voices.require()  # before any work: say how to install it
    if args.out:
        settings = settings.replace(output_uri=str(args.out.expanduser().absolute()))
    settings = settings.replace(parallel_chunks=_local_parallelism(settings))
    settings = settings.replace(chunk_target_s=_local_chunk_target(settings))
    scratch.prepare(settings)  # sweeps what killed runs left behind
    # On a terminal the transcript shows as its chunks finish; a pipe gets it whole at the
    # end, as it always did (scripts read it).
    live = None
    if sys.stdout.isatty() and not args.quiet:
        replacements = {**dict(settings.replacements), **choices.replacements}
        live = LiveTranscript(_print_above_bars, replacements, label_jobs=len(args.videos) > 1)
    progress = TerminalProgress(enabled=not args.quiet, live=live)
    ctx = wiring.create_context(settings, progress=progress)
    pipeline = LocalPipeline(ctx)
    job_ids, missing = [], 0
    for video in args.videos:
        if video.is_dir():
            print(f"kscribe: {video} is a directory: name the files in it (e.g. {video}/*.mp4)", file=sys.stderr)
            missing += 1
            continue
        try:
            result = pipeline.submit(video, checked)
        except KscribeError as exc:
            print(f"kscribe: {exc}", file=sys.stderr)
            missing += 1
            continue
        assert result.job is not None  # explicit requests are never skipped
        job_ids.append(result.job.id)
        progress.stage(result.job.id, "queued", str(video))
    pipeline.run()

    failed = missing
    for job_id in job_ids:
        job = ctx.jobs.require(job_id)
        shown = live.flush(job_id) if live is not None else False
        if job.status is not JobStatus.SUCCEEDED:
            failed += 1
            # The one place a failure is told (the stages' own log lines are for -v).
            print(f"kscribe: {job.source_uri}: {job.error}" if args.quiet else describe(job), file=sys.stderr)
        elif args.quiet:
            print("\n".join(job.outputs.values()))
        else:
            if not shown and "txt" in job.outputs:
                print(ctx.blobs.read_bytes(job.outputs["txt"]).decode("utf-8"), end="")
            print(describe(job))
    return 1 if failed else 0


def _print_above_bars(text: str) -> None:
    """Print to stdout without breaking the progress bars drawn on the same terminal."""
    tqdm.write(text, file=sys.stdout)


@contextlib.contextmanager
def _stage_logs(args: argparse.Namespace) -> Iterator[None]:
    """Without -v, `run` keeps the stages' log lines to itself: what goes wrong in a stage ends
    on its job, which `run` reports (once, in the job's summary); they would tell it again."""
    stages = logging.getLogger("kscribe.pipeline")
    level = stages.level
    if args.command == "run" and not args.verbose:
        stages.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        stages.setLevel(level)


def _stack_redis(settings: Settings) -> str:
    """The REDIS_URL of a local stack's .env in this directory, when this process was not
    given one: keys written now would land in the private embedded Redis, where the stack's
    api never looks (it would answer 401)."""
    env_file = Path(".env")
    if settings.redis_url or not env_file.is_file():
        return ""
    for line in env_file.read_text(errors="replace").splitlines():
        name, _, value = line.partition("=")
        if name.strip() == "REDIS_URL" and value.strip():
            return value.strip()
    return ""


def _keys(args: argparse.Namespace, settings: Settings) -> int:
    from kscribe.state.redis import connect
    from kscribe.tenancy.apikeys import ApiKeys
    from kscribe.tenancy.tenants import Tenants

    stack_redis = _stack_redis(settings)
    if stack_redis and not args.embedded:
        print(
            f"kscribe: this directory's .env runs a stack on {stack_redis}, but REDIS_URL is not set here, so "
            "the key would go into kscribe's private embedded Redis, which the stack never reads. Run "
            "`set -a; . ./.env; set +a` first (or `make keys TENANT=...`), or pass --embedded to mean it.",
            file=sys.stderr,
        )
        return 2
    client = connect(settings)
    keys = ApiKeys(client)
    if args.keys_command == "create":
        tenant, new = Tenants(client).ensure(args.tenant)
        if args.source:
            tenant = Tenants(client).add_sources(args.tenant, args.source)
        token, key = keys.create(args.tenant, args.name)
        print(token)
        print(f"key {key.key_id} for tenant {key.tenant}: the token above is shown only now", file=sys.stderr)
        if new:
            print(f"callback secret for tenant {tenant.name} (shown once): {tenant.callback_secret}", file=sys.stderr)
    elif args.keys_command == "list":
        for key in keys.list():
            state = "revoked" if key.revoked else "active"
            created = time.strftime("%Y-%m-%d %H:%M", time.gmtime(key.created_at))
            print(f"{key.key_id}  {key.tenant:<20} {state:<8} {created}  {key.name}")
    elif not keys.revoke(args.key_id):
        print(f"kscribe: no key {args.key_id} (give at least 8 characters of its id)", file=sys.stderr)
        return 1
    return 0


def _tenants(args: argparse.Namespace, settings: Settings) -> int:
    from kscribe.state.redis import connect
    from kscribe.tenancy.tenants import Tenants, upload_prefix

    tenants = Tenants(connect(settings))
    if args.tenants_command == "rotate-secret":
        print(tenants.rotate_secret(args.tenant))
        print(
            f"tenant {args.tenant}: callbacks are signed with the secret above from now on (shown only now)",
            file=sys.stderr,
        )
        return 0
    if args.tenants_command == "set":
        tenants.set_limits(args.tenant, args.max_active_jobs, args.audio_hours_per_day)
        if args.source:
            tenants.add_sources(args.tenant, args.source)
    names = [args.tenant] if args.tenants_command == "set" else tenants.names()
    for name in names:
        tenant = tenants.get(name)
        if tenant is None:
            continue
        sources = ", ".join((upload_prefix(settings, name), *tenant.sources))
        print(
            f"{name:<20} jobs ≤ {Tenants.max_active_jobs(settings, tenant) or '∞'}, "
            f"audio ≤ {Tenants.audio_limit_s(settings, tenant) / 3600 or '∞'} h/day, sources: {sources}"
        )
    return 0


def _usage(args: argparse.Namespace, settings: Settings) -> int:
    from kscribe.tenancy.tenants import Tenant
    from kscribe.tenancy.usage import usage_view

    ctx = wiring.create_context(settings)
    tenants = ctx.tenants
    names = [args.tenant] if args.tenant else tenants.names()
    views = [usage_view(ctx.jobs, ctx.settings, tenants.get(n) or Tenant(n)) for n in names]
    if args.json:
        print(json.dumps(views, indent=1))
        return 0
    for v in views:
        print(
            f"{v['tenant']:<20} active jobs {v['active_jobs']}/{v['max_active_jobs'] or '∞'}, "
            f"audio today {v['audio_hours_today']:.2f}/{v['audio_hours_per_day'] or '∞'} h"
        )
    return 0


def _status(args: argparse.Namespace, settings: Settings) -> int:
    ctx = wiring.create_context(settings)
    job = ctx.jobs.get(args.job_id)
    if job is None and 8 <= len(args.job_id) < 32:
        # The short ids kscribe prints ([0123abcd]): one job, or say that it is ambiguous.
        found = ctx.jobs.ids_starting(args.job_id.lower())
        if len(found) > 1:
            print(f"kscribe: {args.job_id} is the start of more than one job id: give more of it", file=sys.stderr)
            return 1
        job = ctx.jobs.get(found[0]) if found else None
    if job is None:
        print(f"kscribe: no job {args.job_id} (unknown, or expired)", file=sys.stderr)
        return 1
    queue = backlog.queue_view(ctx, job)
    if args.json:
        print(json.dumps({**job.to_dict(), "queue": queue}, indent=1))
    else:
        print(describe(job) + (f"\n  queue: {backlog.describe(queue)}" if queue else ""))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        settings = Settings.from_env()
        commands = {
            "run": _run,
            "keys": _keys,
            "tenants": _tenants,
            "usage": _usage,
            "status": _status,
        }
        with _stage_logs(args):
            return commands[args.command](args, settings)
    except ConfigError as exc:
        print(f"kscribe: {exc}", file=sys.stderr)
        return 2
    except redis.RedisError as exc:
        print(f"kscribe: lost the connection to Redis, where job state lives ({exc})", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
