"""``charclf plan``: train (or, with ``--dry-run``, time) what the study's plan lists and has not finished.

It sits above :mod:`charclf.study.plan` (the list of runs) and :mod:`charclf.study.beyond` (notebook 11's
ensemble and teacher, which read the plan), so neither of those imports the other back.
"""
from __future__ import annotations

import argparse

from charclf.argtypes import SEED, comma_list
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
    p.add_argument("--seeds", type=comma_list(SEED),
                   help="comma-separated seeds to run (default: all the plan's seeds); lets a "
                   "queue train one seed of every model before the second seeds")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--dry-run", action="store_true", help="measure and list, train nothing")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from charclf.study.notebook import setup

    if args.only == "09-efficientnet-cpu" and (args.models or args.seeds):  # before any data loads
        raise ConfigError("--only 09-efficientnet-cpu chooses its size (the largest whose recipe fits the budget) "
                          "and trains seed 0, so it takes no --models or --seeds. Fix: drop them")
    models = args.models.split(",") if args.models else None
    plan = None if args.only == "09-efficientnet-cpu" else chosen_runs(args.only, args.profile, models, args.seeds)
    ctx = setup(0, profile=args.profile, data_dir=args.data_dir, quiet=True)
    data = ctx.load_data("byclass")
    if args.only == "09-efficientnet-cpu":
        from charclf.study.plan import efficientnet_cpu_plan

        _, status = efficientnet_cpu_plan(ctx, data, train=not args.dry_run, measure=True)
        print(status.to_string())
        return 0
    if args.only == "11-distilled":
        from charclf.study.beyond import ensemble, ensure_teachers

        if args.dry_run:  # scoring members and writing a teacher is work: a dry run only says so
            print("[plan] --dry-run: the students' teachers are not built here (training them first writes the "
                  "teachers they learn from, if they do not exist yet)")
        else:  # only the teachers of the runs asked for; the ensemble only if the first teacher must be chosen
            ensure_teachers(ctx.runs_dir, data, plan, lambda: ensemble(ctx.runs_dir, data, profile=ctx.profile,
                                                                       log=print), profile=ctx.profile)
    from charclf.study.plan import train_plan

    _, status = train_plan(ctx, data, plan, train=not args.dry_run, measure=True)
    print(status.to_string())
    return 0


def chosen_runs(only: str, profile: str, models: list[str] | None, seeds: list[int] | None) -> list:
    """The planned runs ``charclf plan --only ONLY --models ... --seeds ...`` asks for, in the order a queue gives
    (models in the order named, then seed). A model or seed that selects none of the plan's runs is refused by
    name, before any data loads: a typo never silently drops a run, and a seed filter never trains other seeds."""
    from charclf.study.plan import ablation_runs, beyond_runs, efficientnet_runs, select_arms, training_runs

    def planned(names):  # each plan's own selection by name (entries, or models where the plan takes them)
        if only == "09-efficientnet":
            return efficientnet_runs(names)
        if only == "04":
            return training_runs(profile, names)
        if only in ("11", "11-distilled"):
            return beyond_runs(profile, names, distilled=only == "11-distilled")
        return select_arms(ablation_runs({"02": "02_augmentation", "09": "09_efficientnet_ideas"}[only]), names)

    whole = planned(None)
    unknown = [m for m in models or () if not planned([m])]
    if unknown:
        raise ConfigError(f"--models: {', '.join(unknown)} not in --only {only}'s plan under the {profile} profile. "
                          f"Fix: name runs of that plan: {', '.join(sorted({r.entry for r in whole}))}")
    have = sorted({r.seed for r in whole})
    missing = [s for s in seeds or () if s not in have]
    if missing:
        raise ConfigError(f"--seeds: {', '.join(map(str, missing))} not in --only {only}'s plan under the {profile} "
                          f"profile, whose seeds are {', '.join(map(str, have))}. Fix: choose among them")
    plan = [r for r in planned(models) if seeds is None or r.seed in seeds]
    if models is not None:  # in the order given: a queue can put the cheap runs first
        plan.sort(key=lambda r: (models.index(r.entry if r.entry in models else r.model), r.seed))
    return plan
