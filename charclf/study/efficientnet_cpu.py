"""Notebook 09's CPU-scale EfficientNet-B2 next to the earlier work's: the table and the sentence, read off the
chosen run of :func:`charclf.study.plan.efficientnet_cpu_plan` (nothing typed in by hand)."""
from __future__ import annotations

import pandas as pd

from charclf.study.earlier import EARLIER_EFFICIENTNET_B2
from charclf.study.report import run_precision


def efficientnet_cpu_table(run) -> pd.DataFrame:
    """The earlier work's B2 and ours at CPU scale (``run``: the chosen run of
    :func:`charclf.study.plan.efficientnet_cpu_plan`, or None while none has finished), each with what differs."""
    rows = [{"model": "efficientnet_b2, the earlier work", "weights": "ImageNet, fine-tuned",
             "input inside the model": "112 px", "tested on": "official ByClass test", "val acc": float("nan"),
             "test acc": EARLIER_EFFICIENTNET_B2, "epochs": None, "precision (train / val)": "–",
             "train time (h)": float("nan")}]
    if run is not None:
        r = run.record
        size = r.config.get("model_kwargs", {}).get("input_size")
        rows.append({"model": f"efficientnet_b2 at {size} px, ours (CPU scale)", "weights": "none: from scratch",
                     "input inside the model": f"{size} px", "tested on": "holdout test (offline protocol)",
                     "val acc": r.val_acc, "test acc": r.test_acc, "epochs": r.epochs_run,
                     "precision (train / val)": run_precision(r), "train time (h)": r.train_time_s / 3600})
    return pd.DataFrame(rows).set_index("model")


def efficientnet_cpu_line(run, status: pd.DataFrame) -> str:
    """One sentence: which size the budget allowed and what it scored, or why there is no result yet."""
    chosen = status.index[status["chosen"]] if "chosen" in status else []
    if run is None:
        why = (f"{chosen[0]} is the largest size whose recipe fits the budget and is not trained yet" if len(chosen)
               else "no size's recipe fits this machine's budget, or none has been timed yet")
        return f"No CPU-scale EfficientNet-B2 result yet: {why}."
    r = run.record
    size = r.config["model_kwargs"]["input_size"]
    timed = status.get("estimated_s", pd.Series(float("nan"), index=status.index)).notna()
    fits = status.index[status["fits budget"]] if "fits budget" in status else []
    how = ("the largest size whose schedule fits the budget per run" if len(fits) and fits[-1] == chosen[0]
           else "trained earlier; the sizes' timings here may differ" if timed.any()
           else "this profile times nothing: its MACs limit allowed it")
    return (f"EfficientNet-B2 from scratch at {size} px ({how}): val {r.val_acc:.2%}, holdout test "
            f"{r.test_acc:.2%}, against the earlier work's {EARLIER_EFFICIENTNET_B2:.2%} with ImageNet weights at 112 px on the official split — a CPU-scale "
            "variant, not a reproduction." + _timing(run, status, chosen))


def _timing(run, status: pd.DataFrame, chosen) -> str:
    """The run's training time against the estimate that chose its size (from a few timed steps), with the
    spread of its epochs' seconds: what a reader needs to judge the estimate. Empty where either is missing."""
    history = getattr(run, "history", None)
    estimate = status["estimated_s"].get(chosen[0]) if len(chosen) and "estimated_s" in status else None
    if history is None or "epoch_time_s" not in history or estimate is None or pd.isna(estimate):
        return ""
    epochs = history["epoch_time_s"]
    return (f" It trained for {run.record.train_time_s / 3600:.1f} h against the {estimate / 3600:.1f} h estimated "
            f"from its timed steps; its epochs took {epochs.min():.0f}–{epochs.max():.0f} s (median "
            f"{epochs.median():.0f} s).")
