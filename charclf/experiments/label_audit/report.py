"""The audit's report: rates per part, kind and class, cleanlab's health summaries, the test ceiling, and the
label-issues CSV (written, read back with its schema checked, and its images looked up)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from charclf.data.official import load_any
from charclf.errors import DataError
from charclf.experiments.label_audit.scoring import _normalised, _quiet_small_classes
from charclf.experiments.label_audit.settings import (
    CSV_COLUMNS,
    DIGIT_LOOKALIKES,
    ERROR_KINDS,
    KINDS,
    MIRROR_TWINS,
    NOT_ERROR_KINDS,
    PARTS,
)


# -- the report -------------------------------------------------------------------------------------------
def summarize(issues: pd.DataFrame, scores: dict, classes) -> dict:
    """Rates (overall, per part, per kind, per class), cleanlab's health summaries and the test ceiling."""
    from cleanlab.dataset import health_summary

    sizes = {p: len(scores[p]["labels"]) for p in PARTS}
    n_all = sum(sizes.values())
    out = {"sizes": sizes, "kinds": {"all": list(KINDS), "errors": list(ERROR_KINDS),
                                      "not_errors": list(NOT_ERROR_KINDS)},
           "digit_lookalikes": list(DIGIT_LOOKALIKES), "mirror_twins": sorted("".join(sorted(p)) for p in MIRROR_TWINS)}

    def rates(df, n):
        counts = df["kind"].value_counts()
        return {"images": int(n), "flagged": int(len(df)), "flagged_rate": len(df) / n if n else None,
                "likely_errors": int(df["kind"].isin(ERROR_KINDS).sum()),
                "label_error_rate": float(df["kind"].isin(ERROR_KINDS).sum() / n) if n else None,
                "by_kind": {k: int(counts.get(k, 0)) for k in KINDS},
                "cleanlab_issues": int(df["cleanlab_issue"].sum()),
                "orientation_flags": int((df["orientation"] != "").sum())}

    out["overall"] = rates(issues, n_all)
    out["by_part"] = {p: rates(issues[issues["part"] == p], sizes[p]) for p in PARTS}
    # Per class, by the given label, over every part.
    all_labels = np.concatenate([scores[p]["labels"] for p in PARTS])
    support = np.bincount(all_labels, minlength=len(classes))
    position = {c: i for i, c in enumerate(classes)}
    given = issues["given_label"].map(position).to_numpy(np.int64)
    per_class = []
    for i, c in enumerate(classes):
        mine = issues[given == i]
        row = {"char": c, "images": int(support[i]), "flagged": int(len(mine)),
               "likely_errors": int(mine["kind"].isin(ERROR_KINDS).sum())}
        row.update({k: int((mine["kind"] == k).sum()) for k in KINDS})
        row["label_error_rate"] = row["likely_errors"] / support[i] if support[i] else None
        per_class.append(row)
    out["per_class"] = per_class
    health = {}
    for p in PARTS:
        with _quiet_small_classes():
            h = health_summary(scores[p]["labels"], _normalised(scores[p]["probs"]), class_names=list(classes),
                               verbose=False)
        table = h["classes_by_label_quality"]
        health[p] = {"overall_label_health_score": float(h["overall_label_health_score"]),
                     "estimated_noise_rate": 1.0 - float(h["overall_label_health_score"]),
                     "classes_by_label_quality": _records(table),
                     "overlapping_classes": _records(h["overlapping_classes"].head(20))}
    out["health_summary"] = health
    out["test"] = test_ceiling(issues, scores["test"])
    return out


def _records(df: pd.DataFrame) -> list[dict]:
    return json.loads(df.to_json(orient="records"))  # numpy scalars -> plain JSON


def test_ceiling(issues: pd.DataFrame, test_scores: dict) -> dict:
    """How many of the model's test errors land on flagged images, and the accuracy a perfect model could
    score against these labels: it would name the true character, so it disagrees on every likely error."""
    labels = test_scores["labels"]
    wrong = test_scores["probs"].argmax(1) != labels
    rows = issues[issues["part"] == "test"]
    err_pos = rows.loc[rows["kind"].isin(ERROR_KINDS), "position"].to_numpy(np.int64)
    case_pos = rows.loc[~rows["kind"].isin(ERROR_KINDS), "position"].to_numpy(np.int64)
    n = len(labels)
    model_errors = int(wrong.sum())
    return {"images": int(n), "model_accuracy": 1 - model_errors / n if n else None, "model_errors": model_errors,
            "errors_on_likely_label_errors": int(wrong[err_pos].sum()),
            "errors_on_case_ambiguity": int(wrong[case_pos].sum()),
            "share_of_errors_on_likely_label_errors": int(wrong[err_pos].sum()) / model_errors if model_errors else None,
            "likely_label_errors": int(len(err_pos)),
            "ceiling_accuracy": 1 - len(err_pos) / n if n else None}


def write_issues_csv(df: pd.DataFrame, path: Path) -> None:
    from charclf.fileio import write_csv

    write_csv(df.loc[:, list(CSV_COLUMNS)], path, float_format="%.6f")


def same_issues(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """Same rows in the same order (label quality to the CSV's 6 decimals)."""
    if len(a) != len(b):
        return False
    text = [c for c in CSV_COLUMNS if c != "label_quality"]
    return (a[text].astype(str).reset_index(drop=True).equals(b[text].astype(str).reset_index(drop=True))
            and np.allclose(a["label_quality"].to_numpy(float), b["label_quality"].to_numpy(float), atol=2e-6))


def load_issues(path) -> pd.DataFrame:
    """Read a label-issues CSV and check its schema (the artifact others use: see the README)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "label-issues CSV not found", "run `python -m charclf.experiments.label_audit` "
                        "(or notebook 12) to write it")
    # keep_default_na=False: the label "" never occurs, and characters such as 'n' must stay strings.
    df = pd.read_csv(path, dtype={"given_label": str, "suggested_label": str, "orientation": str},
                     keep_default_na=False)
    missing = [c for c in CSV_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(path, f"lacks the column(s) {', '.join(missing)}", "rewrite it with --rewrite-report")
    bad = sorted(set(df["kind"]) - set(KINDS))
    if bad:
        raise DataError(path, f"has unknown kind(s) {bad}", f"kinds are {', '.join(KINDS)}")
    return df


def issue_images(issues: pd.DataFrame, data_dir=None, split: str = "byclass") -> np.ndarray:
    """The upright images (N, 28, 28) of the CSV rows ``issues``, read from the official test file."""
    images, _ = load_any(split, "test", data_dir)
    return images[issues["official_index"].to_numpy(np.int64)]



def describe(results: dict) -> str:
    """One line: flagged images, the likely-error rate, the test ceiling and the experiment."""
    o, t = results["overall"], results["test"]
    ex = results["experiment"]["scores"]
    return (f"{o['flagged']:,} of {o['images']:,} images flagged, likely label errors {o['label_error_rate']:.2%}; "
            f"test: model {t['model_accuracy']:.2%}, ceiling {t['ceiling_accuracy']:.2%}, "
            f"{t['errors_on_likely_label_errors']} of {t['model_errors']} errors on likely label errors; "
            f"cleaned training: test {ex['baseline']['test']['accuracy']:.2%} -> {ex['cleaned']['test']['accuracy']:.2%}")

