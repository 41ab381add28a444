"""Publish the study's best models into model_hub/ from the full-profile runs, each with its seeds' numbers.

``charclf publish [options]`` runs this script (from a clone of the repository).

    python tools/publish_models.py              # show what would be published
    python tools/publish_models.py --write      # publish (replaces those model_hub folders; each replaced
                                                # folder is moved to outputs/replaced/model_hub/)

For each slot of ``charclf.study.beyond.HUB_SLOTS`` (best, default = best under 1M parameters, small <= 100k,
tiny <= 30k) the entry with the highest **val** mean over at least ``--min-seeds`` seeds is chosen; its seed with
the best val accuracy is shipped, and its card reports every seed and their mean ± std.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from charclf.apps.modelcard import publish_best_seed
from charclf.paths import model_hub_dir, runs_dir
from charclf.study.beyond import HUB_SLOTS, frontier, hub_choices, model_rows


def main(argv=None) -> int:
    from charclf.argtypes import COUNT, Parser  # one-line errors, no option given twice

    parser = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="full", choices=["quick", "full"])
    parser.add_argument("--min-seeds", type=COUNT, default=3, help="seeds an entry needs to be published (>= 1)")
    parser.add_argument("--slots", default=",".join(HUB_SLOTS),
                        help="comma-separated slots to publish (default: all); e.g. `tiny` while the larger "
                             "models' seeds are still training, so no slot is filled by default")
    parser.add_argument("--write", action="store_true", help="publish (default: only show the choice)")
    args = parser.parse_args(argv)
    slots = args.slots.split(",")
    unknown = sorted(set(slots) - set(HUB_SLOTS))
    if unknown:
        parser.error(f"--slots {unknown}: choose from {', '.join(HUB_SLOTS)}")

    root = runs_dir(args.profile)
    if not root.is_dir():
        parser.error(f"{root} does not exist: no run of the {args.profile} profile has been trained here")
    rows = model_rows(root)
    front = frontier(rows)
    choices = hub_choices(front, min_seeds=args.min_seeds) if not front.empty else {}
    if not choices:
        print(f"no entry of {root} has {args.min_seeds} seeds yet: nothing to publish")
        return 0
    for slot, entry in ((k, v) for k, v in choices.items() if k in slots):
        best = front.loc[entry]
        print(f"model_hub/{slot}: {entry} ({int(best['params']):,} params, {int(best['n'])} seeds, val "
              f"{best['val_mean']:.4f}, test {best['test_mean']:.4f} ± {best['test_std']:.4f}) — {HUB_SLOTS[slot][1]}")
        if args.write:
            mine = rows[rows["entry"] == entry]
            runs = [root / group / Path(run).name for group, run in zip(mine["group"], mine["run"])]
            publish_best_seed(runs, model_hub_dir() / slot, title=f"{entry}: {HUB_SLOTS[slot][1]}",
                              summary=f"Chosen on val among the study's `{args.profile}`-profile runs "
                                      f"(`tools/publish_models.py`).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
