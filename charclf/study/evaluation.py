"""Notebook 07's reading of the runs: the best run's recorded evaluations (with the re-evaluation that checks them)
and every notebook-04 model scored the same way, as mean ± std over its seeds.

Nothing is evaluated here that the run did not record, except a part it did not score (the train part under the
quick profile), which is scored the way ``fit`` scores it.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

# The metrics of a run's one test evaluation that the every-model table shows, beside its val accuracy.
EVERY_MODEL_METRICS = ("accuracy", "f1_macro", "merged47_accuracy", "ece")


def recorded_parts(run, data, model, result, *, tta: bool, batch_size: int) -> dict:
    """``{part: {"entry", "confusion", "source"}}`` of the test and train parts of ``run``: the evaluation its
    metrics.json records with the confusion matrix beside it, or, where the run recorded none and its weights
    are here (``model``), one computed now (``result``: the test part's, already computed). A part that has
    neither is left out, with a line that says so."""
    from charclf.eval.evaluate import evaluate_model, evaluation_key

    recorded, classes, parts = run.record.evaluation, tuple(data.classes), {}
    for part, dataset in (("test", data.test), ("train", data.train)):
        key = evaluation_key(part, tta)
        csv = run.dir / f"confusion_{key}.csv"
        if key in recorded and csv.is_file():
            frame = pd.read_csv(csv, index_col=0, dtype={"true": str})
            assert tuple(frame.index) == classes == tuple(frame.columns), f"{csv}: not labelled by the 62 classes"
            parts[part] = {"entry": recorded[key], "confusion": frame.to_numpy(), "source": f"recorded ({csv.name})"}
        elif model is not None:
            fresh = result if part == "test" else evaluate_model(model, dataset, tta=tta, batch_size=batch_size)
            parts[part] = {"entry": fresh.to_dict(), "confusion": fresh.confusion, "source": "computed here"}
        else:
            print(f"{part} part: not recorded by the run and its weights are not here (RETRAIN = True rebuilds them)")
    return parts


def check_against_record(result, test: dict, loaded: int) -> None:
    """Print the test accuracy evaluated again (``result``) beside the recorded one (``test``, a
    :func:`recorded_parts` entry) and assert they agree; nothing to check when either was not available."""
    if result is None or test["source"] == "computed here":
        return
    n = test["entry"]["n"]
    assert n == loaded, (f"the run scored {n:,} test images, this notebook loaded {loaded:,}. "
                         "Fix: use notebook 04's SEED and PROTOCOL")
    again, recorded_acc = result.metrics["accuracy"], test["entry"]["accuracy"]
    same_cm = np.array_equal(result.confusion, test["confusion"])
    print(f"test accuracy evaluated again here: {again:.4%}; recorded by fit: {recorded_acc:.4%} "
          f"(net {abs(again - recorded_acc) * n:.0f} images apart; confusion matrix identical: {same_cm})")
    # Same weights, data and float32 arithmetic: equal on the machine that trained the run; another CPU's kernels
    # may round differently and flip a near-tie (eval.evaluate.rescore_tolerance).
    from charclf.eval.evaluate import rescore_tolerance

    assert abs(again - recorded_acc) * n <= rescore_tolerance(n), "the re-evaluation disagrees with the run's record"


def every_model(runs: list) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``(records, stats, table)`` of ``runs`` (finished runs, several seeds of a model allowed): one record per run
    from its recorded test evaluation; :func:`charclf.eval.seeds.mean_std` of val accuracy and the
    :data:`EVERY_MODEL_METRICS` per model; and the table to show, mean ± std as text with the seeds, TTA and
    precisions, sorted by val mean (the number models are chosen by)."""
    from charclf.eval.seeds import format_mean_std, mean_std
    from charclf.study.report import records_precision, run_precision

    records = pd.DataFrame([{"run": run.name, "model": run.record.model, "TTA": run.record.tta,
                             "precision (train / val)": run_precision(run.record),
                             "val acc": run.record.val_acc, "test n": run.record.test["n"],
                             **{m: run.record.test.get(m) for m in EVERY_MODEL_METRICS}} for run in runs])
    stats = mean_std(records, "model", ["val acc", *EVERY_MODEL_METRICS])
    grouped = records.groupby("model")
    table = format_mean_std(stats)
    table.insert(0, "seeds", grouped.size())
    table.insert(1, "TTA", grouped["TTA"].first())
    # Counted per seed ("bf16 ×1, fp32 ×2 / val fp32"), as notebook 04 and the README say it: distinct labels
    # joined without counts read as one precision for the whole model
    seeds_of = {model: [run.record for run in runs if run.record.model == model] for model in table.index}
    table.insert(2, "precision (train / val)", pd.Series({m: records_precision(r) for m, r in seeds_of.items()}))
    order = stats[("val acc", "mean")].sort_values(ascending=False).index
    return records, stats, table.loc[order]
