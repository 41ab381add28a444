"""Rewrite every run record under the given folders in the RunRecord schema, and check each one.

``charclf migrate-runs [options]`` runs this script (from a clone of the repository).

    python tools/migrate_runs.py outputs model_hub            # migrate (legacy metrics.json -> charclf.run/1)
    python tools/migrate_runs.py outputs model_hub --verify   # and re-evaluate every run that kept its weights

A legacy record without an ``evaluation`` block (written before fit scored its weights with evaluate_model)
gets one: its saved weights are evaluated on the test part of the data it trained on, with the run's TTA
setting. ``--verify`` re-evaluates every run with weights and fails when the recorded test accuracy differs
from the fresh evaluation. Quick-profile runs were scored on a stratified subset of the test part; it is
rebuilt with the notebooks' seed (0) and the recorded size. A folder that does not exist or holds no record is
refused; a record that cannot be read (or, with ``--verify``, re-evaluated) is named and fails the run (exit 1).
Repo-only tool: not part of the package.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from charclf.errors import CharclfError, DataError
from charclf.eval.record import RECORD_FILE, RunRecord
from charclf.provenance import read_json


def _test_part(record_data: dict, n: int, data_dir):
    from charclf.data import load_data, stratified_subset

    bundle = load_data(record_data["split"], record_data.get("protocol", "holdout"), data_dir)
    test = bundle.test
    return test if n >= len(test) else stratified_subset(test, n, 0)


def _evaluate(run_dir: Path, record_data: dict, n: int, tta: bool, data_dir):
    from charclf.eval.evaluate import evaluate_model
    from charclf.models.hub import load_model

    return evaluate_model(load_model(run_dir), _test_part(record_data, n, data_dir), tta=tta)


def _add_missing_evaluation(run_dir: Path, data_dir) -> dict:
    """A legacy record (fit's flat keys, no evaluation block) with its test evaluation added."""
    legacy = read_json(run_dir / RECORD_FILE, "restore it with git, or move the run folder out of the tree")
    if "evaluation" in legacy or "run_metadata" not in legacy or not (run_dir / "model.safetensors").exists():
        return legacy
    tta = bool(legacy["run_metadata"].get("config", {}).get("tta", False))
    n = legacy.get("data", {}).get("sizes", {}).get("test", 10**9)
    result = _evaluate(run_dir, legacy["data"], n, tta, data_dir)
    key = "test_tta" if tta else "test"
    print(f"  {run_dir}: no evaluation recorded; evaluated now: {result.metrics['accuracy']:.4f} "
          f"(recorded at training time: {legacy.get('test_acc')})")
    return {**legacy, "evaluation": {key: result.to_dict()}, "test_tta": tta}


def main(argv=None) -> int:
    from charclf.argtypes import Parser  # one-line errors, no option given twice

    parser = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("roots", nargs="+", type=Path)
    parser.add_argument("--verify", action="store_true", help="re-evaluate every run that kept its weights")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    records = {root: sorted(root.rglob(RECORD_FILE)) if root.is_dir() else [] for root in args.roots}
    for root, found in records.items():  # a mistyped folder would check nothing and pass
        if not found:  # printed here, not raised: `python tools/migrate_runs.py` has no CLI to print it
            problem = ("does not exist" if not root.exists() else "is not a folder" if not root.is_dir() else
                       f"holds no run record ({RECORD_FILE})")
            error = DataError(root, problem, "pass folders that hold run folders, e.g. outputs model_hub")
            print(f"{parser.prog}: error: {error}", file=sys.stderr)
            return 2
    evaluated, differ, failed = 0, 0, []
    for path in (path for found in records.values() for path in found):
        run_dir = path.parent
        try:
            raw = _add_missing_evaluation(run_dir, args.data_dir)
            record = RunRecord.from_dict(raw, path=path, run_dir=run_dir)
            if raw != record.to_dict():
                record.save(run_dir)
                print(f"migrated {run_dir}")
            if args.verify and (run_dir / "model.safetensors").exists():
                fresh = _evaluate(run_dir, record.data, int(record.test["n"]), record.tta, args.data_dir)
                same = fresh.metrics["accuracy"] == record.test_acc
                evaluated += 1
                differ += not same
                print(f"{'ok  ' if same else 'DIFF'} {run_dir}: recorded {record.test_acc:.6f}, evaluated "
                      f"{fresh.metrics['accuracy']:.6f} (n={record.test['n']}, tta={record.tta})")
        except CharclfError as err:  # a damaged record, or weights or data that cannot be evaluated
            failed.append(run_dir)
            print(f"FAIL {run_dir}: {' '.join(str(err).split())}")
    total = sum(map(len, records.values()))
    if failed:  # named, and the exit status says so: a check that skipped a record has not passed
        print(f"{parser.prog}: error: {len(failed)} of {total} run record(s) could not be "
              f"{'read or re-evaluated' if args.verify else 'read'}: {', '.join(map(str, failed))}. Fix: see each "
              "FAIL line above (restore a damaged metrics.json with git)", file=sys.stderr)
    else:
        print(f"{total} run record(s) read" + (f"; {evaluated} re-evaluated (the runs that kept their weights), "
                                               f"{differ} differ" if args.verify else ""))
    return 1 if differ or failed else 0


if __name__ == "__main__":
    sys.exit(main())
