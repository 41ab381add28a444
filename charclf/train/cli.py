"""``charclf train``: load a split under a protocol, build a registered model, and ``fit`` it into a run folder."""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from charclf.argtypes import BATCH_SIZE, COUNT, LEARNING_RATE, SEED
from charclf.errors import printable
from charclf.train.config import TrainConfig


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "train", help="train a model on a split and protocol",
        description="Train a registered model. Settings come from TrainConfig defaults, or --recipe NAME, or "
                    "--config FILE.json, then the flags given here (flags win).")
    p.add_argument("--model", help="registry name (see charclf.list_models()); required unless --recipe or --config sets it")
    p.add_argument("--split", help="EMNIST split or classic-mnist (default byclass; on --resume, the run's)")
    p.add_argument("--protocol", choices=("holdout", "official"),
                   help="holdout (re-split test file) | official (default holdout; on --resume, the run's)")
    p.add_argument("--epochs", type=COUNT)
    p.add_argument("--out", required=True, type=Path, help="run folder to write (refused if it exists and is not empty)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last completed epoch (its train_config.json is the "
                        "base config unless --config is given)")
    p.add_argument("--overwrite", action="store_true", help="delete the run in --out and start again")
    p.add_argument("--allow-precision-change", action="store_true",
                   help="let --resume train on in another precision than the run's epochs so far (e.g. bf16 on a "
                        "CPU with AVX512-BF16, float32 on an AVX2-only one); refused without it")
    p.add_argument("--config", type=Path, help="TrainConfig as JSON (e.g. a run's train_config.json)")
    p.add_argument("--recipe", help="a named recipe as the base config (see charclf.train.recipes.list_recipes(); "
                                    "e.g. minivision_v3); its model unless --model is given")
    p.add_argument("--data-dir", help="data directory (default: $CHARCLF_DATA_DIR, else the repo's data/)")
    p.add_argument("--batch-size", type=BATCH_SIZE)
    p.add_argument("--lr", type=LEARNING_RATE, help="optimizer learning rate (0 < lr <= 10)")
    p.add_argument("--max-train-samples", type=COUNT, help="train on a stratified subset of this size")
    p.add_argument("--device", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--seed", type=SEED)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)
    return p


def build_config(args) -> TrainConfig:
    """TrainConfig defaults (or --recipe NAME, or --config FILE) < command-line flags.

    With ``--resume`` and no ``--config``, the run's own ``train_config.json`` is the base instead of the
    defaults, so ``charclf train --out DIR --resume`` continues a run without repeating its flags.
    """
    from charclf.errors import ConfigError

    saved = Path(args.out) / "train_config.json"
    if args.resume and not Path(args.out).exists():
        from charclf.errors import TrainingError

        raise TrainingError(f"{args.out}: does not exist, so there is no run to resume. Fix: check the --out "
                            "path, or drop --resume (and pass --model) to start a new run there")
    if args.config and args.recipe:
        raise ConfigError("--config and --recipe both give the base config. Fix: pass one of them (flags then "
                          "change it)")
    if args.recipe:
        from charclf.train.recipes import get_recipe

        config = get_recipe(args.recipe)
    elif args.config:
        config = TrainConfig.from_json(args.config)
    elif args.resume and saved.is_file():
        config = TrainConfig.from_json(saved)
    else:
        config = TrainConfig()
    flags = {"model": args.model, "epochs": args.epochs, "batch_size": args.batch_size, "seed": args.seed,
             "max_train_samples": args.max_train_samples, "device": args.device}
    config = dataclasses.replace(config, **{k: v for k, v in flags.items() if v is not None})
    if args.lr is not None:
        config = dataclasses.replace(config, optimizer=dataclasses.replace(config.optimizer, lr=args.lr))
    if not config.model:
        if args.resume:
            raise ConfigError(f"{args.out}: holds no train_config.json, so --resume does not know which model to "
                              "train. Fix: pass --model NAME (or --recipe / --config), or resume the right folder")
        raise ConfigError("charclf train needs a model. Fix: pass --model NAME (or --recipe NAME, or --config "
                          "FILE.json with 'model')")
    return config


def data_choice(args) -> tuple[str, str]:
    """(split, protocol): the flags, else — when resuming — those the run recorded in its config.json, else
    byclass/holdout. A resume on other data is refused by ``fit`` anyway; this makes the plain resume work."""
    import json

    recorded = {}
    saved = Path(args.out) / "config.json"
    if args.resume and saved.is_file():
        try:
            recorded = json.loads(saved.read_text())
        except (OSError, ValueError):
            recorded = {}  # unreadable: fall back to the defaults; fit's data check still guards the resume
    return (args.split or recorded.get("split") or "byclass", args.protocol or recorded.get("protocol") or "holdout")


def run(args) -> int:
    from charclf.errors import RunFinished

    try:
        return _train(args)
    except RunFinished as done:
        # Resuming a finished run with its own config: nothing to do, nothing changed, not a failure. Asking it
        # for something else (more epochs, another lr) is refused as a resume with another config always is.
        from charclf.train.checkpoint import check_same_config

        saved = Path(args.out) / "train_config.json"
        if saved.is_file():
            check_same_config(TrainConfig.from_json(saved).to_dict(), build_config(args).to_dict(), saved)
        asked, recorded = data_choice(args), data_choice(argparse.Namespace(**{**vars(args), "split": None,
                                                                               "protocol": None}))
        if asked != recorded:
            from charclf.errors import TrainingError

            raise TrainingError(f"{args.out}: the run was trained on other data (split/protocol "
                                f"{'/'.join(recorded)}, asked {'/'.join(asked)}). Fix: train into a new --out folder")
        print(f"charclf train: {' '.join(str(done).split())}", file=sys.stderr)
        return 0


def _train(args) -> int:
    from charclf.data import load_data
    from charclf.errors import unknown_name
    from charclf.fileio import check_writable
    from charclf.models import create_model, list_models
    from charclf.train.engine import fit, seed_everything
    from charclf.train.run_folder import check_before_work, check_out_dir, refuse_finished, run_lock

    from charclf.errors import ConfigError

    config = build_config(args)
    try:
        config.check()
    except ConfigError as err:  # a value out of range: say which file it came from, flags aside
        source = args.config or (str(Path(args.out) / "train_config.json") if args.resume else None)
        raise ConfigError(f"{source}: {err}" if source and not str(err).startswith(str(source)) else str(err)) \
            from err
    # Fail fast, before loading data: a wrong name, an occupied, busy or unwritable folder should cost nothing.
    if config.model not in list_models():
        raise unknown_name("model", config.model, list_models())
    check_out_dir(args.out, args.resume, args.overwrite)
    if args.resume:
        refuse_finished(args.out)  # at once, not after loading data (run compares config and data)
    check_writable(args.out)
    with run_lock(args.out, args.resume, args.overwrite):  # fit takes the same lock (re-entrant)
        split, protocol = data_choice(args)
        data = load_data(split, protocol, args.data_dir)
        check_before_work(args.out, config, data)
        # Seed before building: --seed then fixes the initial weights too, as it does in the notebooks.
        seed_everything(config.seed)
        model = create_model(config.model, num_classes=data.num_classes, **config.model_kwargs)
        history = fit(model, data, config, args.out, resume=args.resume, overwrite=args.overwrite,
                      allow_precision_change=args.allow_precision_change, progress=not args.no_progress)
    r = history.attrs["record"]
    print(f"run folder: {printable(args.out)}")
    print(f"best val accuracy: {r.best_val_acc:.4f} (epoch {r.best_epoch} of {len(history)}; split "
          f"{data.split}, protocol {data.protocol}); test accuracy of that model: {r.test_acc:.4f}"
          f"{' (with TTA)' if r.tta else ''}")
    sys.stdout.flush()
    return 0
