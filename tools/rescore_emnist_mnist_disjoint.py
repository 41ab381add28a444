"""Score the committed MNIST-transfer runs (notebook 08) on the EMNIST-MNIST test set less their source model's
training images, without retraining.

``charclf rescore-emnist-mnist [options]`` runs this script (from a clone of the repository).

    python tools/rescore_emnist_mnist_disjoint.py outputs/runs/full/08_mnist_transfer \
        outputs/runs/quick/08_mnist_transfer
    python tools/rescore_emnist_mnist_disjoint.py outputs/runs --dry-run     # say what would be written

1,275 of the 10,000 EMNIST-MNIST test images are byte-identical to images of the ByClass holdout train and val
parts the source model trained on (and chose its weights on), so a transfer run's recorded
``emnist_mnist_test_acc`` is partly scored on its source's training images. For every ``results.json`` of
``transfer_to_mnist`` under the given folders this adds, and changes nothing recorded:

* top level ``emnist_mnist_disjoint_test``: the rule, the source's data, ``n_total``, ``n_dropped`` (per part),
  ``n`` scored, the rows that could not be scored and why, and ``scored_by``: the list of tool passes that scored
  rows (git sha, time, which rows), one more each time a pass scores rows whose weights were restored;
* per row ``emnist_mnist_disjoint_test_acc``: the accuracy of the row's model folder (``run_dir``) on that set,
  with the row's TTA setting — for rows whose folder kept its weights (``model.safetensors``) only.

Before a row is scored, its weights are checked to be the ones its number came from: scored on the whole
EMNIST-MNIST test set they must give the recorded ``emnist_mnist_test_acc`` exactly, else the file is refused.
An existing field is kept when equal and refused when different (the file is left as it is), so a second run
changes nothing. Fresh runs of ``transfer_to_mnist`` write both fields themselves. Repo-only tool.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from charclf.errors import CharclfError, DataError

EXPERIMENT = "transfer_to_mnist"
# Bookkeeping of the rescore: not part of the facts a fresh transfer_to_mnist run writes, so not compared.
BOOKKEEPING = ("rows_not_scored", "scored_by")


def _repo_path(path: str) -> Path:
    from charclf.provenance import REPO_ROOT

    p = Path(path)
    return p if p.is_absolute() else REPO_ROOT / p


def _now() -> str:
    import datetime as dt

    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _same(a, b) -> bool:
    return a == b or (isinstance(a, float) and isinstance(b, float) and abs(a - b) < 1e-12)


def rescore(path: Path, data_dir=None, *, cache: dict | None = None) -> tuple[dict, list[str]]:
    """The results in ``path`` with the disjoint facts and per-row accuracies added, and what was done (lines).
    Nothing recorded changes: a field already there must equal the fresh one, else ``DataError``."""
    from charclf.eval.record import RunRecord
    from charclf.experiments.transfer import (DISJOINT_COLUMN, DISJOINT_KEY, _emnist_mnist_test,
                                              emnist_mnist_disjoint_test, score_emnist_mnist)
    from charclf.models.hub import load_model
    from charclf.provenance import git_sha, read_json

    fix = "restore it with git (`git checkout -- <file>`), or retrain the comparison with transfer_to_mnist"
    results = read_json(path, fix)
    if not isinstance(results, dict) or results.get("experiment") != EXPERIMENT:
        raise DataError(path, f"is not a {EXPERIMENT} results file", "pass the folders of notebook 08's runs")
    cache = {} if cache is None else cache
    source = results["source_model_dir"]
    if source not in cache:
        full = cache.setdefault("__full__", _emnist_mnist_test(data_dir))
        if isinstance(full, str):
            raise DataError(path, full, "put the EMNIST-MNIST test files into the data dir (charclf data verify)")
        cache[source] = emnist_mnist_disjoint_test(_repo_path(source), data_dir, full)
    disjoint, facts = cache[source]
    if disjoint is None:
        raise DataError(path, facts["note"], "put the source's data into the data dir")
    full, lines = cache["__full__"], []
    rows, not_scored, newly_scored = [], {}, []
    for row in results["runs"]:
        row = dict(row)
        run_dir, name = _repo_path(row["run_dir"]), row["run"]
        if not (run_dir / "model.safetensors").is_file():
            not_scored[name] = (f"{row['run_dir']} kept no weights (model.safetensors); retraining the comparison "
                                "writes the field")
            lines.append(f"  {name}: not scored: {not_scored[name]}")
            rows.append(row)
            continue
        record, net = RunRecord.load(run_dir), load_model(run_dir)
        if bool(row.get("test_tta")) != record.tta:
            raise DataError(path, f"row {name!r} records test_tta={row.get('test_tta')} but {row['run_dir']}'s "
                                  f"record tta={record.tta}", fix)
        whole = score_emnist_mnist(net, full, record, record.tta)
        if row.get("emnist_mnist_test_acc") is None or not _same(whole, row["emnist_mnist_test_acc"]):
            raise DataError(path, f"row {name!r}: its weights score {whole:.6f} on the whole EMNIST-MNIST test set, "
                                  f"the row records {row.get('emnist_mnist_test_acc')} (not the weights the "
                                  "number came from)", "retrain the comparison instead of re-scoring it")
        acc = score_emnist_mnist(net, disjoint, record, record.tta)
        if DISJOINT_COLUMN in row and row[DISJOINT_COLUMN] is not None and not _same(row[DISJOINT_COLUMN], acc):
            raise DataError(path, f"row {name!r} already records {DISJOINT_COLUMN}={row[DISJOINT_COLUMN]}, the "
                                  f"weights score {acc:.6f} now; the recorded value is kept",
                            "find out why they differ (another data dir? other weights?) before changing either")
        lines.append(f"  {name}: whole set {whole:.4f} (as recorded, n={len(full):,}), disjoint {acc:.4f} "
                     f"(n={len(disjoint):,})" + (" (already recorded)" if DISJOINT_COLUMN in row else ""))
        if row.get(DISJOINT_COLUMN) is None:
            newly_scored.append(name)
        row[DISJOINT_COLUMN] = acc
        rows.append(row)
    old = results.get(DISJOINT_KEY)
    if isinstance(old, dict) and old.get("n") is None:
        old = None  # a fresh run that could not make the set (no source data then): nothing recorded to keep
    if isinstance(old, dict) and {k: v for k, v in old.items() if k not in BOOKKEEPING} != facts:
        raise DataError(path, f"already records {DISJOINT_KEY} facts that differ from this data's "
                              f"(n {old.get('n')} vs {facts['n']}, dropped {old.get('n_dropped')} vs "
                              f"{facts['n_dropped']}); the recorded facts are kept",
                        "rescore with the data dir the runs were made with")
    this_pass = {"tool": "tools/rescore_emnist_mnist_disjoint.py (no retraining)", "git_sha": git_sha(),
                 "created_utc": _now(), "rows": newly_scored}
    new_facts = dict(old) if isinstance(old, dict) else {**facts, "rows_not_scored": not_scored,
                                                          "scored_by": [this_pass]}
    if isinstance(old, dict) and not_scored != old.get("rows_not_scored", not_scored):
        new_facts["rows_not_scored"] = not_scored  # a row scored since (weights restored): no longer listed
    if isinstance(old, dict) and newly_scored:
        # A later pass that scores rows is listed after the earlier ones, which are kept (what scored which row);
        # a first pass written before this was a list is one dict, read as a list of one.
        earlier = old.get("scored_by")
        new_facts["scored_by"] = [*(earlier if isinstance(earlier, list) else [earlier] if earlier else []),
                                  this_pass]
    return {**results, "runs": rows, DISJOINT_KEY: new_facts}, lines


def main(argv=None) -> int:
    from charclf.argtypes import Parser  # one-line errors, no option given twice
    from charclf.experiments.transfer import RESULTS_NAME
    from charclf.fileio import write_json
    from charclf.provenance import read_json

    parser = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("roots", nargs="+", type=Path, help="folders holding transfer_to_mnist results.json files")
    parser.add_argument("--data-dir", default=None, help="the data dir (default: CHARCLF_DATA_DIR, else data/)")
    parser.add_argument("--dry-run", action="store_true", help="score and check, write nothing")
    args = parser.parse_args(argv)
    cache, bad = {}, 0
    paths = sorted({p for root in args.roots for p in (
        [root] if root.is_file() else root.rglob(RESULTS_NAME))})
    for path in paths:
        try:
            raw = read_json(path, "restore it with git")
            if not isinstance(raw, dict) or raw.get("experiment") != EXPERIMENT:
                continue
            new, lines = rescore(path, args.data_dir, cache=cache)
        except CharclfError as err:
            bad += 1
            print(f"refused {err}")
            continue
        facts = new["emnist_mnist_disjoint_test"]
        changed = new != raw
        print(f"{'unchanged' if not changed else 'would write' if args.dry_run else 'wrote'} {path}: "
              f"{facts['n']:,} of {facts['n_total']:,} EMNIST-MNIST test images scored, {facts['n_dropped']:,} "
              f"dropped ({facts['dropped_by_part']})")
        print("\n".join(lines))
        if changed and not args.dry_run:
            write_json(path, new)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
