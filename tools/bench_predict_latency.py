"""How long one image takes: `charclf predict one.png` cold (wall time of the whole command, imports included)
and the model's time per image (numpy Mini-Vision vs torch on 1 and 2 threads), and the demo's time per stroke.

    python tools/bench_predict_latency.py [--runs 3] [--out outputs/bench/predict-latency.json]

Prints the latencies side by side and writes them, with provenance (git SHA, machine) and the machine's load
average, to a JSON file. Targets (issue 39): the CLI <= 2 s wall for one image on 2 cores; the demo <= 50 ms of
model time per stroke. On a machine shared with other jobs the cold-start times grow with the load (they are
mostly imports, i.e. CPU and disk); the per-image model times much less.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

DEFAULT_OUT = ROOT / "outputs" / "bench" / "predict-latency.json"


def _drawing(size=(400, 400)) -> Image.Image:
    """A black 'L' stroked on a transparent RGBA canvas: what the demo's sketchpad sends."""
    img = Image.new("RGBA", size, (0, 0, 0, 0))
    ImageDraw.Draw(img).line([(140, 80), (140, 320), (280, 320)], fill=(0, 0, 0, 255), width=14, joint="curve")
    return img


def _timed(fn, repeat: int) -> list[float]:
    """Milliseconds per call, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000.0)
    return times


def _summary(values: list[float]) -> dict:
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3),
            "max": round(max(values), 3), "n": len(values)}


def cli_wall(image: Path, runs: int, engine: str) -> dict:
    """Wall seconds of `python -m charclf predict IMAGE` in a fresh interpreter (a user's cold start)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "charclf", "predict", str(image), "--engine", engine], env=env,
                       check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return _summary(times)


def model_times(model_dir: Path, repeat: int) -> dict:
    """Milliseconds per single image through the model: numpy Mini-Vision, torch on 1 and on 2 threads."""
    import torch

    from charclf.apps.fastpredict import load
    from charclf.apps.imageprep import preprocess_image
    from charclf.apps.predict import SMALL_BATCH, model_probs
    from charclf.eval.inference import predict_logits
    from charclf.models.hub import load_model

    image = preprocess_image(_drawing())[None]
    out = {}
    fast = load(model_dir)
    if fast is not None:
        out["numpy"] = _summary(_timed(lambda: fast.probs(image), repeat))
    slow = load_model(model_dir)
    cfg = slow.charclf_config
    batch = torch.as_tensor(image)
    before = torch.get_num_threads()
    for threads in (1, 2):
        torch.set_num_threads(threads)
        with torch.inference_mode():
            out[f"torch_{threads}_thread"] = _summary(_timed(
                lambda: predict_logits(slow, batch, mean=cfg["mean"], std=cfg["std"]), repeat))
    torch.set_num_threads(before)
    out["torch_as_predict_runs_it"] = _summary(_timed(lambda: model_probs(slow, image), repeat))
    out["small_batch_threshold"] = SMALL_BATCH
    return out


def demo_times(model_dir: Path, repeat: int) -> dict:
    """Milliseconds per stroke in the demo's callback (conversion + model + the enlarged preview), and the
    model's share of it, with the model the demo loads (once)."""
    from charclf.apps.demo import respond, sketch_to_input
    from charclf.apps.predict import load_for_predict, model_probs

    model = load_for_predict(model_dir)
    sketch = {"background": None, "layers": [], "composite": np.asarray(_drawing())}
    image = sketch_to_input(sketch)[None]
    return {"engine": type(model).__name__,
            "callback": _summary(_timed(lambda: respond(model, sketch), repeat)),
            "model_only": _summary(_timed(lambda: model_probs(model, image), repeat))}


def _shown(path: Path) -> str:
    """A path as committed artifacts name it: relative to the repository when inside it (no machine paths)."""
    path = Path(path).resolve()
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)


def main(argv=None) -> int:
    from charclf.argtypes import Parser  # one-line errors, no option given twice

    parser = Parser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="cold CLI runs per engine (default 3)")
    parser.add_argument("--repeat", type=int, default=50, help="timed calls per in-process measurement")
    parser.add_argument("--model", default=None, help="model folder (default: model_hub/default)")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="JSON output (default: %(default)s)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out (default: refuse)")
    args = parser.parse_args(argv)

    from charclf.apps.predict import resolve_model_dir
    from charclf.errors import ConfigError
    from charclf.fileio import refuse_to_replace, write_json
    from charclf.provenance import run_metadata

    try:  # before minutes of timing, not after
        refuse_to_replace(args.out, overwrite=args.overwrite)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    model_dir = resolve_model_dir(args.model)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        image = Path(tmp) / "one.png"
        _drawing().save(image)
        cli = {engine: cli_wall(image, args.runs, engine) for engine in ("auto", "torch")}
    model = model_times(model_dir, args.repeat)
    demo = demo_times(model_dir, args.repeat)
    result = {
        "meta": run_metadata(tool="tools/bench_predict_latency.py", model_dir=_shown(model_dir),
                             cpu_count=os.cpu_count(), load_average_before=[round(v, 2) for v in load_before],
                             load_average_after=[round(v, 2) for v in os.getloadavg()],
                             note="measured on a machine shared with other jobs (a training run and other "
                                  "sessions) unless the load averages say it was idle: cold-start times grow "
                                  "with the load; rerun on idle cores for clean numbers"),
        "cli_wall_s": cli, "model_ms_per_image": model, "demo_ms_per_stroke": demo,
        "targets": {"cli_wall_s": 2.0, "demo_model_ms": 50.0},
    }
    write_json(args.out, result)
    print(f"load average (1/5/15 min) before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f} "
          f"on {os.cpu_count()} cores")
    print("charclf predict one.png, cold, wall s (median, min-max):")
    for engine, s in cli.items():
        print(f"  engine {engine:<6} {s['median']:7.2f}   {s['min']:.2f}-{s['max']:.2f}   (target <= 2 s)")
    print("model time per image, ms (median):")
    for name, s in model.items():
        if isinstance(s, dict):
            print(f"  {name:<26} {s['median']:8.2f}")
    print(f"demo per stroke, ms (median), {demo['engine']}: callback {demo['callback']['median']:.2f}, model "
          f"{demo['model_only']['median']:.2f}   (target <= 50 ms of model time)")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
