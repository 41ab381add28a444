"""``charclf tune``: the command line of the search. Imports no Optuna until it runs (``charclf tune --help``
works without it; running without it says how to install it, in one line)."""
from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from typing import Callable, TypeVar

from charclf.argtypes import COUNT, SECONDS, SEED

SPACE_NAMES = ("byclass", "continuous")  # the keys of space.SPACES (a test checks), without importing Optuna
DEFAULT_HEARTBEAT_S = 10  # storage.DEFAULT_HEARTBEAT_S (a test checks), without importing Optuna
T = TypeVar("T")


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "tune", help="random/TPE hyperparameter search (Optuna)",
        description="Hyperparameter search for one model: short trainings scored by validation loss, stored in a "
                    "database so a killed search resumes and several workers (same --storage and --study-name) "
                    "share one study. --trials is the total across all workers (workers racing for the last "
                    "trials may finish up to workers - 1 more; search.json reports the actual number).")
    p.add_argument("--model", required=True, help="model name (charclf.list_models())")
    p.add_argument("--trials", type=COUNT, default=None, help="total finished trials (default: the space's n_iter, 28)")
    p.add_argument("--storage", default=None,
                   help="database URL or SQLite file path (default: sqlite:///<out>/study.db)")
    p.add_argument("--study-name", default=None, help="default: <model>-<space>-<sampler>-s<seed>")
    p.add_argument("--sampler", choices=["random", "tpe"], default="random")
    p.add_argument("--pruner", choices=["median", "none"], default="median")
    p.add_argument("--space", choices=sorted(SPACE_NAMES), default="byclass",
                   help="byclass: the ByClass study's grid; continuous: log-uniform lr/weight decay")
    p.add_argument("--recipe", default="byclass_study", help="base TrainConfig the trials modify")
    p.add_argument("--epochs-per-trial", type=COUNT, default=5)
    p.add_argument("--max-train-samples", type=COUNT, default=None, help="stratified train subset per trial")
    p.add_argument("--max-val-samples", type=COUNT, default=None, help="stratified val subset for scoring")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--split", default="byclass")
    p.add_argument("--protocol", default="holdout", choices=["holdout", "official"])
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--heartbeat", type=SECONDS, default=DEFAULT_HEARTBEAT_S,
                   help="seconds between a trial's heartbeats; a trial silent for 3x this is re-queued")
    p.add_argument("--out", default=None, help="output folder (default: outputs/tune/<study-name>)")
    p.set_defaults(func=run)
    return p


class _AfterInterrupt(logging.Filter):
    """Drops Optuna's log records from the one that reports a KeyboardInterrupt on: Optuna logs the interrupted
    trial as failed, with a traceback, before it re-raises the interrupt."""

    def __init__(self):
        super().__init__()
        self.interrupted = False

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[0] if record.exc_info else None
        self.interrupted = self.interrupted or (exc is not None and issubclass(exc, KeyboardInterrupt))
        return not self.interrupted


def saved_on_interrupt(search: Callable[[], T], study_name: str, url: str) -> T | None:
    """``search()``; on Ctrl-C, one line on stderr saying the study is saved and how to resume it, and None —
    no traceback from Optuna or Python. (The interrupted trial is re-queued: a resumed search runs it first.)"""
    from charclf.experiments.tune.storage import safe_url

    quiet = _AfterInterrupt()
    handlers = list(logging.getLogger("optuna").handlers)
    for handler in handlers:
        handler.addFilter(quiet)
    try:
        return search()
    except KeyboardInterrupt:
        print(f"charclf tune: interrupted; study {study_name!r} is saved in {safe_url(url)} (finished trials kept, "
              "the interrupted one re-queued). Fix: run the same command again to resume it", file=sys.stderr)
        return None
    finally:
        for handler in handlers:
            handler.removeFilter(quiet)


def run(args) -> int:
    from charclf.experiments.tune.space import get_space  # first: without Optuna, its error says what to install
    from charclf.data import load_data  # noqa: I001
    from charclf.experiments.tune.search import refuse_unusable_search, run_search, search_location
    from charclf.train.recipes import get_recipe

    space = get_space(args.space)
    base = get_recipe(args.recipe, device=args.device)
    study_name, out_dir, url = search_location(args.model, space, args.sampler, args.seed,
                                               study_name=args.study_name, storage=args.storage, out_dir=args.out)
    refuse_unusable_search(args.model, out_dir)  # before the data loads (run_search checks again, for callers)
    data = load_data(args.split, args.protocol, args.data_dir)
    result = saved_on_interrupt(lambda: run_search(
        args.model, data, base, space, n_trials=args.trials, sampler=args.sampler, pruner=args.pruner, storage=url,
        study_name=study_name, seed=args.seed, epochs_per_trial=args.epochs_per_trial,
        max_train_samples=args.max_train_samples, max_val_samples=args.max_val_samples, out_dir=out_dir,
        heartbeat_interval=args.heartbeat), study_name, url)
    if result is None:
        return 130  # the shell's code for an interrupt
    df = result.trials_dataframe()
    with contextlib.suppress(ImportError):
        import pandas as pd

        with pd.option_context("display.width", 160, "display.max_columns", 20):
            print(df.sort_values("val_loss").head(10).to_string(index=False))
    if (df.state == "COMPLETE").any() and result.out_dir is not None:
        fig = result.plot()
        from charclf.fileio import atomic_path

        with atomic_path(result.out_dir / "search.png", suffix=".png") as tmp:
            fig.savefig(tmp, dpi=120)
        print(f"wrote {result.out_dir / 'search.json'}, trials.csv and search.png", file=sys.stderr)
    return 0
