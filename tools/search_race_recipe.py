"""Choose our time-to-accuracy recipe on val: race each candidate through charclf's pipeline, test part unread.

``charclf race-search [options]`` runs this script (from a clone of the repository).

    python tools/search_race_recipe.py                  # every candidate, seeds 0 and 1, target 0.86 val
    python tools/search_race_recipe.py --only onecycle6 --seeds 0 --max-train-samples 2000 --target 0   # smoke

Each candidate is Mini-Vision-V3 (the fastest architecture per accuracy point on a CPU in notebook 04), or its
space-to-depth variant ``minivision_v3_s2d`` (the same network without the 28 px stage), under a short schedule in
the airbench spirit: OneCycle, label smoothing, Nesterov SGD. The race stops at the first epoch
whose val accuracy reaches the target; among the candidates that reach it on every seed, the one with the fewest
mean training seconds to it becomes ``recipes.charclf_race`` (one seed is not enough: the first search chose a
4-epoch schedule on seed 0 that then missed on seeds 1 and 2), and
``charclf race --fast-recipe charclf_race`` then races it against the earlier works'
pipeline over three seeds, reading test once per race. Writes
``outputs/bench/race-recipe-search-<device>.json`` (every candidate's curve, config and provenance), refusing to
replace an existing one (the default path or an explicit ``--out``) unless ``--overwrite``.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from charclf.train.config import OptimizerConfig, SchedulerConfig
from charclf.train.recipes import CROP_ONLY, MINIVISION_AUGMENT_NEAREST, get_recipe

# One change at a time from a shared short schedule (OneCycle at batch 256, 6 epochs unless a candidate says
# otherwise; each "-nearest" candidate is its plain namesake with nearest resampling).
_SGD = OptimizerConfig(name="sgd", lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
_ONECYCLE = SchedulerConfig(name="onecycle", warmup_epochs=1)
_BASE = dict(optimizer=_SGD, scheduler=_ONECYCLE, label_smoothing=0.1)
CANDIDATES = {
    "onecycle6": dict(_BASE, epochs=6),
    "onecycle4": dict(_BASE, epochs=4),
    "onecycle6-tta": dict(_BASE, epochs=6, tta=True),  # TTA runs at evaluation only: off the stopwatch
    "onecycle5-batch512": dict(_BASE, epochs=5, batch_size=512,
                               optimizer=OptimizerConfig(name="sgd", lr=0.2, momentum=0.9, nesterov=True,
                                                         weight_decay=5e-4)),
    "onecycle4-batch512": dict(_BASE, epochs=4, batch_size=512,
                               optimizer=OptimizerConfig(name="sgd", lr=0.2, momentum=0.9, nesterov=True,
                                                         weight_decay=5e-4)),
    "onecycle5": dict(_BASE, epochs=5),
    "onecycle5-nearest": dict(_BASE, epochs=5, augment=MINIVISION_AUGMENT_NEAREST),
    "onecycle6-nearest": dict(_BASE, epochs=6, augment=MINIVISION_AUGMENT_NEAREST),
    # Crop only (RandomCrop(28, padding=2), no rotation): a whole-pixel shift, an exact gather, cheaper than a
    # resampling; over a few epochs the network has not yet fitted the unrotated data, so rotation can only slow it.
    "crop3": dict(_BASE, epochs=3, augment=CROP_ONLY),
    "crop4": dict(_BASE, epochs=4, augment=CROP_ONLY),
    "s2d-crop3": dict(_BASE, epochs=3, augment=CROP_ONLY, model="minivision_v3_s2d"),
    "s2d-crop4": dict(_BASE, epochs=4, augment=CROP_ONLY, model="minivision_v3_s2d"),
}


def candidate_config(name: str, device: str = "auto", max_train_samples: int | None = None):
    """The TrainConfig of candidate ``name``: Mini-Vision-V3's recipe with the candidate's changes (which may
    include the model)."""
    config = get_recipe("minivision_v3", device=device, max_train_samples=max_train_samples, **CANDIDATES[name])
    return dataclasses.replace(config, name=f"race-{name}")


def choose(results: dict) -> str | None:
    """The candidate that reached the target on every seed in the fewest mean training seconds (None if none
    did), by the same rule as the race's own goals (``charclf.study.goals.race_goals``). ``results``:
    ``{candidate: run_race(...) result}``, each summarised under its ``charclf_fast`` entrant."""
    from charclf.experiments.time_to_accuracy import FAST

    def every_seed(name):
        summary = results[name]["summary"][FAST]
        return summary["reached"] == len(summary["seeds"]) > 0

    return min(filter(every_seed, results), key=lambda n: results[n]["summary"][FAST]["seconds_to_target_mean"],
               default=None)


def main(argv=None) -> int:
    import torch

    from charclf.data import load_data
    from charclf.errors import ConfigError
    from charclf.experiments.time_to_accuracy import run_race
    from charclf.fileio import refuse_to_replace, write_json
    from charclf.paths import bench_dir

    from charclf.argtypes import Parser  # one-line errors, no option given twice

    p = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", default=",".join(CANDIDATES), help="comma-separated candidates (default: all)")
    p.add_argument("--seeds", default="0,1", help="comma-separated seeds; a candidate must reach the target on "
                   "every one to be chosen (default: 0,1)")
    p.add_argument("--target", type=float, default=0.86)
    p.add_argument("--device", default="auto")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--max-train-samples", type=int, default=None)
    p.add_argument("--out", default=None)
    p.add_argument("--overwrite", action="store_true")
    args = p.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    try:
        seeds = tuple(dict.fromkeys(int(s) for s in args.seeds.split(",") if s.strip()))  # repeats dropped
    except ValueError:
        p.error(f"--seeds {args.seeds!r}: comma-separated integers, e.g. 0,1")
    if not seeds:
        p.error("--seeds: give at least one seed, e.g. 0,1")
    unknown = sorted(set(names) - set(CANDIDATES))
    if unknown:
        p.error(f"--only {unknown}: choose from {', '.join(CANDIDATES)}")
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    out = bench_dir() / f"race-recipe-search-{device}.json" if args.out is None else Path(args.out)
    try:  # the shared check: an explicit --out is no licence to replace an earlier search either
        refuse_to_replace(out, overwrite=args.overwrite)
    except ConfigError as err:
        raise SystemExit(f"error: {err}") from None
    data = load_data("byclass", "holdout", args.data_dir)
    results = {}
    for name in names:
        try:
            race = run_race(data, seeds=seeds, target=args.target, pipelines=(),
                            fast_config=candidate_config(name, device, args.max_train_samples), score_test=False,
                            log=lambda line: print(line, flush=True))
        except ConfigError as err:
            raise SystemExit(f"candidate {name}: {err}") from err
        results[name] = race
        for r in race["races"]:
            print(f"{name} seed {r['seed']}: reached={r['reached']} after {r['train_s']:.1f} s of training, "
                  f"{r['epochs']} epochs, val {r['val_acc']:.4f}", flush=True)
    chosen = choose(results)
    write_json(out, {"target": args.target, "target_on": "val", "seeds": list(seeds), "chosen": chosen,
                     "chosen_by": "fewest mean training seconds to the target on val among the candidates that "
                                  "reached it on every seed; test never read",
                     "candidates": results})
    print(f"chosen: {chosen}\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
