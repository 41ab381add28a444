"""Time minivision_s's width and depth variants under its recipe, and give each the epochs of the base's time.

    python tools/time_budget_widths.py                  # writes outputs/bench/widths-time-budget.json
    python tools/time_budget_widths.py --rounds 7 --out /tmp/t.json

Notebook 11 compares widths and depths of ``minivision_s`` at a fixed time budget: the time that the base (blocks
32/64/64) takes for its recipe's 50 epochs. Each variant trains for as many epochs as fit in that time on this
machine. This tool measures the training step of every variant as ``fit`` runs it (``measure_images_per_s``: the
recipe's batch, precision and augmentation). The variants take turns within each round, so a busy spell of a
shared machine hits all of them, and the median over the rounds is kept. It writes the images/s, the epochs
at the base's time, and the machine (CPU flags, threads, precision, git SHA) to a JSON artifact.
``charclf.study.plan.WIDTH_ARMS`` holds those epochs, and a test checks that they match the committed artifact.
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
from pathlib import Path

from charclf.argtypes import COUNT

OUT = Path("outputs") / "bench" / "widths-time-budget.json"


def main(argv=None) -> int:
    from charclf.argtypes import Parser  # one-line errors, no option given twice

    parser = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=COUNT, default=5)
    parser.add_argument("--steps", type=COUNT, default=40, help="timed steps per measurement")
    parser.add_argument("--threads", type=COUNT, default=1, help="torch threads (the study's background runs: 1)")
    parser.add_argument("--out", default=str(OUT))
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)

    from charclf.fileio import refuse_to_replace, write_json

    out = Path(args.out)
    refuse_to_replace(out, overwrite=args.overwrite)
    import torch

    from charclf.data.protocols import load_data
    from charclf.provenance import run_metadata
    from charclf.study.plan import BEYOND_PLAN, EXPERIMENT_BASE, WIDTH_ARMS, WIDTH_BASE
    from charclf.train.precision import precision_name, resolve_amp
    from charclf.train.recipes import get_recipe
    from charclf.train.throughput import measure_images_per_s

    torch.set_num_threads(args.threads)
    data = load_data("byclass", "holdout")
    recipe = BEYOND_PLAN[EXPERIMENT_BASE]  # the base of the width arms: minivision_s's own recipe
    base = get_recipe(recipe)
    arms = {"base": WIDTH_BASE, **{variant: widths for variant, (widths, _) in WIDTH_ARMS.items()}}
    speeds: dict[str, list[float]] = {name: [] for name in arms}
    for r in range(args.rounds):
        for name, widths in arms.items():
            config = dataclasses.replace(base, model="minivision_s", model_kwargs={"widths": list(widths)})
            speeds[name].append(measure_images_per_s("minivision_s", config, data, steps=args.steps))
        print(f"round {r + 1}/{args.rounds}: " + ", ".join(f"{k} {v[-1]:,.0f}" for k, v in speeds.items()),
              flush=True)
    median = {name: statistics.median(v) for name, v in speeds.items()}
    rows = {name: {"widths": list(arms[name]), "images_per_s_median": median[name], "images_per_s": speeds[name],
                   "epochs_at_base_time": round(base.epochs * median[name] / median["base"])}
            for name in arms}
    amp = resolve_amp(base.amp, torch.device("cpu"), None)
    write_json(out, {"recipe": recipe, "base_epochs": base.epochs, "rounds": args.rounds, "steps": args.steps,
                     "threads": args.threads, "precision": precision_name(amp), "arms": rows,
                     "provenance": run_metadata(protocol="holdout", seed=None)})
    for name, row in rows.items():
        print(f"{name:>10} {str(row['widths']):<18} {row['images_per_s_median']:>7,.0f} img/s  "
              f"{row['epochs_at_base_time']:>3} epochs")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
