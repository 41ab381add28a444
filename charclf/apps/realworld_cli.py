"""``charclf evaluate-images``: the command line of the real-world scoring (:mod:`charclf.apps.realworld`) and of
its per-step ablation (:mod:`charclf.apps.realworld_report`), kept apart so neither imports the other back."""
from __future__ import annotations

import os
from pathlib import Path

from charclf.apps.realworld import SAMPLE_DIR, SAMPLE_MANIFEST, VARIANTS, default_out, format_summary, run_evaluation
from charclf.argtypes import COUNT
from charclf.class_prior import PRIOR_HELP, PRIORS
from charclf.errors import ConfigError, DataError, printable
from charclf.fileio import refuse_to_replace

SAMPLE_PREFIX = "sample-"  # the sample's artifacts sit beside the full set's without replacing them


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("evaluate-images", help="score a model on the real-world handwriting set",
                              description="Score a model on the real-world handwriting set (fetch it first with "
                                          "`charclf data fetch-realworld`) through the same preprocessing as "
                                          "`charclf predict`; writes a JSON artifact and a failure gallery PNG.")
    p.add_argument("--model", default=None, metavar="DIR", help="model folder (default: model_hub/default)")
    p.add_argument("--dir", default=None, help="the fetched set (default: <data dir>/realworld)")
    p.add_argument("--manifest", default=None, help="manifest CSV (default: the package's)")
    p.add_argument("--sample", action="store_true",
                   help="score the small sample committed with the package (the MIT-licensed sources' images, "
                        "offline, seconds) instead of the fetched set; artifacts are named sample-...")
    p.add_argument("--out", default=None, help="JSON path (default: outputs/realworld/<model path>.json); the "
                                               "gallery goes beside it as .png")
    p.add_argument("--overwrite", action="store_true",
                   help="replace existing artifacts (default: refuse, naming the file; an unfinished ablation of the "
                        "same inputs is resumed either way)")
    p.add_argument("--no-synthetic", action="store_true", help="skip the shadowed and ruled-paper variants")
    p.add_argument("--workers", type=COUNT, default=min(4, os.cpu_count() or 1),
                   help="processes for the preprocessing (default: up to 4 cores)")
    p.add_argument("--ablation", action="store_true",
                   help="score once per preprocessing step with that step off (one row each) and write "
                        "outputs/realworld/ablation-<model path>.json (or --out); the all-steps row comes from "
                        "the model's evaluate-images artifact when it matches, the before row from --before; "
                        "also draws the preprocessing step by step on a few of the images (steps.png beside it)")
    p.add_argument("--steps", default=None, metavar="A,B",
                   help="with --ablation: only these steps (default: all of imageprep's PrepOptions)")
    p.add_argument("--before", default=None, metavar="JSON",
                   help="with --ablation: the old preprocessing's artifact, shown as the reference row "
                        "(default: outputs/realworld/<model path>-before.json when it exists)")
    p.add_argument("--prior", choices=PRIORS, default="auto", help=PRIOR_HELP)
    p.set_defaults(func=run)


def run(args) -> int:
    from charclf.apps.predict import resolve_model_dir
    from charclf.data.realworld import MANIFEST_PATH, default_dir

    if args.sample and (args.dir or args.manifest):
        raise ConfigError("--sample scores the committed sample with its own manifest, so it takes no --dir or "
                          "--manifest. Fix: drop --sample to score a fetched set, or drop --dir and --manifest")
    given = [flag for flag, value in (("--steps", args.steps), ("--before", args.before)) if value is not None]
    if given and not args.ablation:  # they shape the ablation's rows only: ignored, they would mislead
        raise ConfigError(f"{' and '.join(given)} apply only with --ablation. Fix: add --ablation, or drop "
                          f"{' and '.join(given)}")
    model_dir = resolve_model_dir(args.model)
    if args.sample:
        root, manifest = SAMPLE_DIR, SAMPLE_MANIFEST
    else:
        root = Path(args.dir) if args.dir else default_dir()
        manifest = Path(args.manifest) if args.manifest else MANIFEST_PATH
    if args.ablation:
        return run_ablation(args, model_dir, root, manifest)
    out = Path(args.out) if args.out else scores_path(args, model_dir)
    refuse_to_replace(out, out.with_suffix(".png"), overwrite=args.overwrite)
    artifact = run_evaluation(model_dir, root, manifest, out,
                              variants=() if args.no_synthetic else VARIANTS, workers=args.workers,
                              prior=args.prior)
    print(format_summary(artifact))
    print(f"wrote {printable(out)} and {printable(out.with_suffix('.png'))}")
    return 0


def scores_path(args, model_dir: Path) -> Path:
    """The default artifact: ``outputs/realworld/<model path>.json``, with ``sample-`` in front for --sample."""
    out = default_out(model_dir, getattr(args, "prior", "auto"))
    return out.with_name(SAMPLE_PREFIX + out.name) if args.sample else out


def run_ablation(args, model_dir: Path, root: Path, manifest: Path) -> int:
    from charclf.apps.imageprep.options import check_step
    from charclf.apps.realworld_report import STEPS_FIGURE, ablation, ablation_table, write_steps_figure
    from charclf.data.realworld import read_manifest

    scores = scores_path(args, model_dir)
    out = Path(args.out) if args.out else scores.with_name(f"ablation-{scores.name}")
    before = Path(args.before) if args.before else scores.with_name(f"{scores.stem}-before.json")
    if args.before and not before.is_file():  # asked for by name: its row must not silently go missing
        raise DataError(before, "does not exist", "pass --before the JSON that evaluate-images wrote for the old "
                        "preprocessing, or leave --before out")
    steps = None if args.steps is None else [check_step(s.strip()) for s in args.steps.split(",") if s.strip()]
    variants = () if args.no_synthetic else VARIANTS
    artifact = ablation(model_dir, root, manifest, out, steps=steps, workers=args.workers, after=scores,
                        before=before, variants=variants, overwrite=args.overwrite, prior=args.prior)
    print(ablation_table(artifact).to_string(float_format=lambda v: f"{v:.3f}"))
    # The step-by-step figure depends on the preprocessing and the set, not the model: one per set and folder.
    figure = out.parent / ((SAMPLE_PREFIX if args.sample else "") + STEPS_FIGURE)
    if figure.exists() and not args.overwrite:  # an earlier figure (or someone's file of that name) stays
        print(f"wrote {printable(out)}; kept the existing {printable(figure)} (pass --overwrite to draw it again)")
        return 0
    write_steps_figure(read_manifest(manifest), root, figure, variants=variants)
    print(f"wrote {printable(out)} and {printable(figure)}")
    return 0
