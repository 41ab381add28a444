"""``charclf plan``: train (or, with ``--dry-run``, time) what the study's plan lists and has not finished.

It sits above :mod:`charclf.study.plan` (the list of runs) and :mod:`charclf.study.beyond` (notebook 11's
ensemble and teacher, which read the plan), so neither of those imports the other back.
"""
from __future__ import annotations

import argparse

from charclf.errors import ConfigError

ONLY = ("04", "02", "09", "09-efficientnet", "09-efficientnet-cpu", "11", "11-distilled")


def add_parser(subparsers) -> argparse.ArgumentParser:
    from charclf.study import plan

    p = subparsers.add_parser("plan", help="train or time the study's planned runs (background runner)",
                              description=plan.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profile", default="full", choices=["quick", "full"])
    p.add_argument("--only", default="04", choices=ONLY,
                   help="which notebook's runs (09-efficientnet: EfficientNet-B2/B3 themselves, which a CPU "
                        "only times, see --dry-run; 09-efficientnet-cpu: B2 from scratch at the largest internal "
                        "size whose recipe fits the budget, after timing each size; 11-distilled: notebook 11's students, after writing their "
                        "teacher from the ensemble of the finished runs when it does not exist yet)")
    p.add_argument("--models", help="comma-separated models (for 02 and 09: arms, e.g. recipe-crop-rotation), "
                   "trained in this order (default: the whole plan)")
    p.add_argument("--seeds", help="comma-separated seeds to run (default: all the plan's seeds); lets a "
                   "queue train one seed of every model before the second seeds")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--dry-run", action="store_true", help="measure and list, train nothing")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from charclf.study.notebook import setup
    from charclf.study.plan import (ablation_runs, beyond_runs, efficientnet_runs, select_arms, train_plan,
                                    training_runs)

    if args.only == "09-efficientnet-cpu" and (args.models or args.seeds):  # before any data loads
        raise ConfigError("--only 09-efficientnet-cpu chooses its size (the largest whose recipe fits the budget) "
                          "and trains seed 0, so it takes no --models or --seeds. Fix: drop them")
    ctx = setup(0, profile=args.profile, data_dir=args.data_dir, quiet=True)
    data = ctx.load_data("byclass")
    models = args.models.split(",") if args.models else None
    if args.only == "09-efficientnet-cpu":
        from charclf.study.plan import efficientnet_cpu_plan

        _, status = efficientnet_cpu_plan(ctx, data, train=not args.dry_run, measure=True)
        print(status.to_string())
        return 0
    if args.only == "11-distilled":
        from charclf.study.beyond import ensemble, ensure_teacher

        ensembled = ensemble(ctx.runs_dir, data, profile=ctx.profile, log=print)
        ensure_teacher(ctx.runs_dir, data, ensembled, profile=ctx.profile)
    if args.only == "09-efficientnet":
        plan = efficientnet_runs(models)
    elif args.only in ("04", "11", "11-distilled"):
        plan = (training_runs(args.profile, models) if args.only == "04" else
                beyond_runs(args.profile, models, distilled=args.only == "11-distilled"))
        if models is not None:  # in the order given: a queue can put the cheap runs first
            plan.sort(key=lambda r: (models.index(r.entry if r.entry in models else r.model), r.seed))
        if args.seeds:
            plan = [r for r in plan if r.seed in {int(s) for s in args.seeds.split(",")}]
    else:
        plan = select_arms(ablation_runs({"02": "02_augmentation", "09": "09_efficientnet_ideas"}[args.only]), models)
    if models is not None and not plan:
        raise ConfigError(f"--models {args.models}: none of them is in --only {args.only}'s plan. Fix: name models "
                          "or arms of that plan (see notebook 04/02/09/11's plan tables)")
    _, status = train_plan(ctx, data, plan, train=not args.dry_run, measure=True)
    print(status.to_string())
    return 0

