"""``charclf race``: training seconds to a val accuracy, the usual pipeline against charclf's (time to accuracy).

Both pipelines train Mini-Vision-V3's recipe (usual: as the earlier works shipped it, fp32) until the val accuracy
reaches ``--target``, over ``--seeds``; it prints the training seconds to target (mean ± std) of each and their
ratio, and writes ``outputs/bench/bench-<device>-time-to-accuracy.json`` (see
``charclf.experiments.time_to_accuracy``). ``--fast-recipe NAME`` adds a third entrant, ``charclf_fast``: that
recipe of ours through charclf's pipeline, with ``ratio_fast`` = usual over it. Formerly
``charclf bench --time-to-accuracy``, which still works (with a one-line notice).

    charclf race --target 0.86 --seeds 3,4,5
    charclf race --fast-recipe charclf_race --seeds 3,4,5

The entrant ``charclf_fp32_nearest`` (charclf's pipeline at the usual side's precision and resampling) runs too,
and ``ratio_pipeline`` is usual over it. A race on the seeds of the search that chose ``--fast-recipe`` is refused.
With ``--overwrite``, the JSON it replaces is kept in ``history/`` beside it: the race's goals read every session.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from charclf.argtypes import COUNT, MAX_SEED, THREADS, number
from charclf.errors import printable


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("race", help="time to accuracy: usual pipeline vs charclf to a val accuracy",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--target", type=number(float, low=0, high=1, low_open=True), default=0.86,
                   help="val accuracy to reach (default 0.86)")
    p.add_argument("--seeds", default="3,4,5",
                   help="comma-separated seeds (default 3,4,5: charclf_race was chosen on seeds 0-2, and a race "
                        "on the seeds that chose its recipe is refused)")
    p.add_argument("--max-epochs", type=COUNT, default=None, help="give up after this many epochs (default: "
                                                                   "the recipe's, 50)")
    p.add_argument("--pipelines", default="usual,charclf", help="comma-separated: usual, charclf")
    p.add_argument("--max-train-samples", type=COUNT, default=None,
                   help="train on a stratified subset of this many images (smoke runs)")
    p.add_argument("--fast-recipe", default=None,
                   help="also race this recipe of ours through charclf's pipeline (entrant charclf_fast, "
                        "e.g. charclf_race); the JSON's ratio_fast is usual over it")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--threads", type=THREADS, default=None,
                   help="torch intra-op threads for training (default: torch's choice, usually the core count)")
    p.add_argument("--data-dir", default=None, help="folder with emnist/ and protocols/ (default: the usual search)")
    p.add_argument("--out", default=None,
                   help="JSON path (default outputs/bench/bench-<device>-time-to-accuracy.json)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing output file (default: refuse); the file it replaces is kept, byte for "
                        "byte, in history/ beside it as <name>-<its created_utc>.json, and the race's goals read "
                        "every session kept there")
    p.set_defaults(func=run)
    return p


def format_race_table(result: dict) -> str:
    """Side by side: pipeline, precision, seeds on target, training seconds to target (mean ± std), epochs,
    mean test accuracy of the weights on target; then the ratio."""
    head = ("pipeline", "precision", "resampling", "reached", "seconds to target", "epochs", "test acc")
    body = []
    for name, s in result["summary"].items():
        mean, std = s["seconds_to_target_mean"], s["seconds_to_target_std"]
        seconds = "-" if mean is None else f"{mean:,.1f}" + ("" if std is None else f" ± {std:,.1f}")
        test = "-" if s["test_acc_mean"] is None else f"{s['test_acc_mean']:.4f}"
        body.append((name, f"{s['precision']} {s['memory_format']}", str(s.get("resampling")),
                     f"{s['reached']}/{len(s['seeds'])}", seconds, ",".join(map(str, s["epochs"])), test))
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in (head, tuple("-" * w for w in widths),
                                                                           *body)]
    for key, fast in (("ratio", "charclf"), ("ratio_pipeline", "charclf_fp32_nearest"), ("ratio_fast", "charclf_fast")):
        if key not in result:
            continue
        ratio = result[key]
        lines.append(f"{key} (usual / {fast} seconds to val acc {result['target']:g}): "
                     + (f"{ratio:.2f}x" if ratio is not None else "n/a (both need every seed on target)"))
    return "\n".join(lines)


def keep_earlier_race(out: Path, log=print) -> Path | None:
    """Copy an existing race JSON at ``out``, its bytes unchanged, into ``history/`` beside it as
    ``<name>-<its created_utc, else its file time>.json`` (never over another: ``kept_aside_path``), before a new
    session replaces it: every session of a race stays on record, and its goals read them all
    (``charclf.study.race_sessions.race_history``). Returns the copy's path (None when there was nothing to keep)."""
    import re
    import time

    from charclf.errors import CharclfError
    from charclf.fileio import atomic_write_bytes, kept_aside_path
    from charclf.provenance import read_json
    from charclf.paths import RACE_HISTORY_DIR

    out = Path(out)
    if not out.is_file():
        return None
    try:
        made = read_json(out, "").get("created_utc")
    except (CharclfError, AttributeError):  # not JSON, or not an object: kept all the same, stamped by its time
        made = None
    made = made or time.strftime("%Y-%m-%dT%H%M%S+0000", time.gmtime(out.stat().st_mtime))
    stamp = re.sub(r"[^\w+.-]", "", str(made))
    target = kept_aside_path(out.parent / RACE_HISTORY_DIR / out.name, stamp, file=True)
    atomic_write_bytes(target, out.read_bytes())  # a copy: the earlier session stays at out until replaced
    log(f"kept the earlier {out.name} as {RACE_HISTORY_DIR}/{target.name}")
    return target


def run(args) -> int:
    """``charclf race``: run_race on the ByClass holdout data, print the table, write the JSON."""
    from charclf.apps.bench import device_tag, int_list, load_average
    from charclf.data import load_data
    from charclf.experiments.time_to_accuracy import run_race
    from charclf.fileio import refuse_to_replace, write_json
    from charclf.paths import bench_dir
    from charclf.train.recipes import get_recipe, search_seeds

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    out = Path(args.out) if args.out else bench_dir() / f"bench-{device_tag(device)}-time-to-accuracy.json"
    refuse_to_replace(out, overwrite=args.overwrite)  # an hour of racing is not replaced by accident
    if out.exists():  # --overwrite: the earlier session is kept in history/ (keep_earlier_race), checked writable now
        from charclf.fileio import check_writable
        from charclf.paths import RACE_HISTORY_DIR

        check_writable(out.parent / RACE_HISTORY_DIR, "the race history folder")
    seeds = int_list(args.seeds, "seeds", MAX_SEED)
    pipelines = tuple(p.strip() for p in args.pipelines.split(",") if p.strip())
    config = get_recipe("minivision_v3", device=str(device), max_train_samples=args.max_train_samples)
    fast_config = (None if args.fast_recipe is None else
                   get_recipe(args.fast_recipe, device=str(device), max_train_samples=args.max_train_samples))
    data = load_data("byclass", "holdout", args.data_dir)
    print(f"charclf race on {device_tag(device)}: {config.name} to val acc {args.target:g}, "
          f"seeds {','.join(map(str, seeds))}, {torch.get_num_threads()} torch threads, "
          f"{args.max_train_samples or len(data.train)} training images"
          + (f"; charclf_fast: {fast_config.name}" if fast_config else ""), flush=True)
    load_before = load_average()
    result = run_race(data, seeds=seeds, target=args.target, max_epochs=args.max_epochs, pipelines=pipelines,
                      config=config, fast_config=fast_config, log=lambda line: print(line, flush=True),
                      search_seeds=search_seeds(args.fast_recipe) if args.fast_recipe else ())
    result.update(device_tag=device_tag(device), load_average_1min={"before": load_before, "after": load_average()})
    print()
    print(format_race_table(result))
    keep_earlier_race(out)  # --overwrite replaces the file, never the session it recorded
    write_json(out, result)
    print(f"\nwrote {printable(out)}")
    return 0
