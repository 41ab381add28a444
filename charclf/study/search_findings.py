"""What notebook 05's searches and its tuned run say, as sentences read off their numbers.

Like :mod:`charclf.study.earlier` for notebook 04: the conclusions are computed from the trials and the run
records the notebook shows, so they hold under either profile and whatever the searches found. Val loss picks
within a search, val accuracy compares the tuned run with the default one, and test accuracy is reported beside.
"""
from __future__ import annotations

import pandas as pd

# Below this many accuracy points, two single-seed runs are not told apart: notebook 04's three-seed models
# spread by 0.1-0.2 points (sample std), so a gap of a few tenths can be seed noise.
SEED_NOISE_PTS = 0.3


def _complete(trials: pd.DataFrame) -> pd.DataFrame:
    return trials[(trials["state"] == "COMPLETE") & trials["val_loss"].notna()].sort_values("number")


def _params(row: pd.Series, names: list[str]) -> str:
    return ", ".join(f"{name} {row[name]:g}" for name in names)


def trials_to_match(trials: pd.DataFrame, target: float) -> int | None:
    """How many trials (counting pruned ones: they spent budget too) a search had finished when its best
    complete trial first reached ``target`` val loss or lower; None if it never did."""
    finished = trials.sort_values("number").reset_index(drop=True)
    hits = finished.index[(finished["state"] == "COMPLETE") & (finished["val_loss"] <= target)]
    return int(hits[0]) + 1 if len(hits) else None


def search_findings(searches: dict[str, pd.DataFrame], default=None, tuned=None) -> list[str]:
    """Sentences about ``searches`` (``{sampler: trials_dataframe()}``, the first one the reference) and, when
    both are given, the tuned run against the default recipe (:class:`~charclf.eval.record.RunRecord` each)."""
    lines = []
    best = {}
    for name, trials in searches.items():
        complete = _complete(trials)
        pruned = int((trials["state"] == "PRUNED").sum())
        if complete.empty:
            lines.append(f"{name}: no trial has completed yet ({len(trials)} finished, {pruned} pruned).")
            continue
        row = complete.loc[complete["val_loss"].idxmin()]
        best[name] = row
        names = trials.attrs.get("params") or [c for c in ("lr", "batch_size", "momentum", "weight_decay")
                                               if c in trials]
        lines.append(f"{name}: {len(trials)} trials finished ({pruned} pruned by the median rule); the lowest val "
                     f"loss, {row['val_loss']:.4f}, is trial #{int(row['number'])} ({_params(row, names)}).")
    if len(best) == 2:
        (ref, ref_row), (other, other_row) = best.items()
        gap = other_row["val_loss"] - ref_row["val_loss"]
        matched = trials_to_match(searches[other], ref_row["val_loss"])
        lines.append((f"At the same budget, {other if gap < 0 else ref}'s best val loss is lower by {abs(gap):.4f}. "
                      if gap else f"At the same budget, both reach the same best val loss. ")
                     + (f"{other} first matched {ref}'s best after {matched} of its {len(searches[other])} trials."
                        if matched else f"{other} never matched {ref}'s best."))
    if default is not None and tuned is not None:
        d_val, d_test = 100 * (tuned.best_val_acc - default.best_val_acc), 100 * (tuned.test_acc - default.test_acc)
        lines.append(f"Trained in full, the searched setting reaches val {tuned.best_val_acc:.2%} and test "
                     f"{tuned.test_acc:.2%} ({tuned.train_samples:,} images, {tuned.epochs_run} epochs); the default "
                     f"recipe val {default.best_val_acc:.2%} and test {default.test_acc:.2%} ({default.train_samples:,} "
                     f"images, {default.epochs_run} epochs): {d_val:+.2f} points on val, {d_test:+.2f} on test.")
        if abs(d_val) < SEED_NOISE_PTS:
            lines.append(f"The val gap is under {SEED_NOISE_PTS} points, within what seeds alone move a run (one seed "
                         "each): the search did not measurably beat the default recipe.")
        else:
            verdict = "better" if d_val > 0 else "worse"
            agrees = (d_test > 0) == (d_val > 0)
            lines.append(f"The searched setting is {verdict} than the default recipe on val, and the test part "
                         + ("agrees." if agrees else "does not agree: read it as noise rather than a gain."))
        if tuned.train_samples != default.train_samples:
            lines.append("The two runs trained on different numbers of images, so the comparison is not like for "
                         "like.")
    return lines
