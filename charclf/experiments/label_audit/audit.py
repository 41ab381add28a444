"""The whole audit (resumable, step by step) and its command line:

    python -m charclf.experiments.label_audit --data-dir ../shared/data --out outputs/label_audit --folds 4
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd

from charclf.errors import ConfigError
from charclf.experiments.label_audit.data import AuditData, load_audit_data
from charclf.experiments.label_audit.estimate import estimate_seconds, measure_rates
from charclf.experiments.label_audit.report import describe, load_issues, same_issues, summarize, write_issues_csv
from charclf.experiments.label_audit.scoring import audit_part, sort_issues
from charclf.experiments.label_audit.settings import (
    CLEAN_RUN,
    CSV_NAME,
    DEFAULT_OUT,
    FOLD_METHODS,
    FULL_RUN,
    HELDOUT_NAME,
    PARTS,
    RESULTS_NAME,
    AuditSettings,
    train_config,
    with_fold_method,
)
from charclf.experiments.label_audit.steps import check_config, run_experiment, run_folds, run_full_model

STEPS = ("folds", "full_model", "experiment", "total")


def estimate(settings: AuditSettings, data: AuditData, *, log=print) -> dict:
    """Measure this machine's rates on the audit's recipe, log what each step should take from scratch, and
    return the estimate (seconds per step, and the rates it used)."""
    from charclf.eval.inference import default_device
    from charclf.train.precision import precision_name, resolve_amp

    precision = precision_name(resolve_amp(settings.amp, default_device()))
    sizes = {p: len(getattr(data.bundle, p)) for p in PARTS}
    rates = measure_rates(settings, data.bundle)
    est = estimate_seconds(settings, sizes, rates)
    log(f"[label-audit] {settings.folds} folds x {settings.epochs} epochs of {settings.recipe} ({precision}) on "
        f"{sizes['train']:,} training images; val {sizes['val']:,}, test {sizes['test']:,}. Measured here: "
        f"{rates['train']:,.0f} training, {rates['infer']:,.0f} scoring images/s; estimated from scratch: folds "
        f"{est['folds'] / 60:.1f} min, full model {est['full_model'] / 60:.1f} min, experiment "
        f"{est['experiment'] / 60:.1f} min, total {est['total'] / 60:.1f} min")
    return {**est, "images_per_s": {k: round(v, 1) for k, v in rates.items()}}


def run_audit(out, data_dir=None, settings: AuditSettings | None = None, *, rewrite_report: bool = False,
              protocol_file=None, log=print) -> dict:
    """Run (or resume) the whole audit into ``out`` and return the results JSON (also written there)."""
    from charclf.fileio import write_json
    from charclf.provenance import read_json, repo_relative, run_metadata

    settings = settings or AuditSettings()
    out = Path(out)
    results_path, csv_path = out / RESULTS_NAME, out / CSV_NAME
    if results_path.is_file() and not rewrite_report:
        results = read_json(results_path, "move it away and run the audit again, or pass --rewrite-report")
        asked = settings.to_dict()
        saved = with_fold_method(results["config"]) if isinstance(results.get("config"), dict) else {}
        if saved != asked:  # a finished audit answers only for the settings it was made with
            keys = sorted(k for k in set(saved) | set(asked) if saved.get(k) != asked.get(k))
            raise ConfigError(f"{results_path}: holds a finished audit made with other settings ("
                              + ", ".join(f"{k}={saved.get(k)!r}, asked {asked.get(k)!r}" for k in keys)
                              + "). Fix: ask for its settings, or choose another --out folder for these")
        log(f"[label-audit] {repo_relative(results_path)} exists: the audit is complete (--rewrite-report "
            "recomputes the report)")
        return results
    started = time.perf_counter()
    data = load_audit_data(data_dir, settings, protocol_file=protocol_file)
    out.mkdir(parents=True, exist_ok=True)
    check_config(out, {"settings": settings.to_dict(), "data": data.fingerprint()})
    est = estimate(settings, data, log=log)

    classes = data.bundle.classes
    train_scores = run_folds(out, data, settings, log=log)
    held, full = run_full_model(out, data, settings, log=log)
    scores = {"train": train_scores, **held}
    issues = sort_issues(pd.concat([audit_part(p, scores[p], data.index[p], classes, settings) for p in PARTS],
                                   ignore_index=True))
    if csv_path.is_file() and not rewrite_report:
        # Written by an earlier, interrupted run of these settings: it must say the same.
        if not same_issues(load_issues(csv_path), issues):
            raise ConfigError(f"{csv_path}: differs from what this code computes from the cached probabilities. "
                              "Fix: pass --rewrite-report to replace it, or move it away")
    else:
        write_issues_csv(issues, csv_path)
    log(f"[label-audit] {len(issues):,} flagged images -> {repo_relative(csv_path)}")
    summary = summarize(issues, scores, classes)
    experiment = run_experiment(out, data, settings, issues, full["model"], log=log)
    results = run_metadata(
        profile="label_audit", protocol="holdout", split=settings.split, seed=settings.seed, recipe=settings.recipe,
        config=settings.to_dict(), train_config=train_config(settings).to_dict(), data=data.fingerprint(),
        protocol_file=repo_relative(data.protocol_file), estimated_seconds={k: est[k] for k in STEPS},
        measured_images_per_s=est["images_per_s"],
        seconds_this_invocation=round(time.perf_counter() - started, 1),
        models={"folds": train_scores["folds"], "full": full["metrics"]},
        **summary, experiment=experiment,
        artifacts={"csv": CSV_NAME, "folds": "folds/", "full_model": FULL_RUN + "/", "heldout": HELDOUT_NAME,
                   "clean_model": CLEAN_RUN + "/"})
    write_json(results_path, results)
    log(f"[label-audit] results -> {repo_relative(results_path)} ({describe(results)})")
    return json.loads(results_path.read_text())  # as a later, cached call returns it (lists, not tuples)


# -- CLI --------------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    d = AuditSettings()
    from charclf.argtypes import Parser  # one-line errors, no option given twice

    p = Parser(prog="python -m charclf.experiments.label_audit",
               description="Find the label errors of EMNIST ByClass (holdout protocol) with "
                           "out-of-fold probabilities and cleanlab; resumable.")
    p.add_argument("--data-dir", default=None, help="folder with emnist/ and protocols/ (default: $CHARCLF_DATA_DIR)")
    p.add_argument("--out", default=str(DEFAULT_OUT), help=f"output folder (default: {DEFAULT_OUT})")
    p.add_argument("--folds", type=int, default=d.folds)
    p.add_argument("--epochs", type=int, default=d.epochs, help="epochs per model (folds, full, cleaned)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--recipe", default=d.recipe, help="training recipe (charclf.train.recipes)")
    p.add_argument("--amp", choices=("auto", "bf16", "off"), default=d.amp, help="training precision")
    p.add_argument("--fold-method", choices=FOLD_METHODS, default=d.fold_method,
                   help="stratified_kfold: scikit-learn's; round_robin: the earlier audits' (outputs/label_audit)")
    p.add_argument("--max-train-samples", type=int, default=None, help="stratified training subset (smoke test)")
    p.add_argument("--max-eval-samples", type=int, default=None, help="stratified val/test subsets (smoke test)")
    p.add_argument("--protocol-file", default=None, help="holdout index .npz (default: <data>/protocols/...)")
    p.add_argument("--rewrite-report", action="store_true",
                   help="recompute the CSV and label-audit.json from the cached probabilities")
    p.add_argument("--estimate-only", action="store_true", help="print the runtime estimate and exit")
    return p


def main(argv=None) -> int:
    from charclf.errors import CharclfError

    args = build_parser().parse_args(argv)
    try:
        settings = AuditSettings(folds=args.folds, epochs=args.epochs, seed=args.seed, recipe=args.recipe,
                                 amp=args.amp, max_train_samples=args.max_train_samples,
                                 max_eval_samples=args.max_eval_samples, fold_method=args.fold_method)
        if args.estimate_only:
            data = load_audit_data(args.data_dir, settings, protocol_file=args.protocol_file)
            est = estimate(settings, data)  # logs the measured rates
            print(json.dumps({k: round(est[k] / 60, 1) for k in STEPS}) + "  (minutes)")
            return 0
        run_audit(args.out, args.data_dir, settings, rewrite_report=args.rewrite_report,
                  protocol_file=args.protocol_file)
    except CharclfError as err:
        print(f"label_audit: error: {err}", file=sys.stderr)
        return 2
    except ImportError as err:
        if "cleanlab" not in str(err):
            raise
        print("label_audit: error: cleanlab is not installed. Fix: pip install 'charclf[audit]'", file=sys.stderr)
        return 2
    return 0

