"""What the real-world scores say: the preprocessing ablation, the issue's goals table, and a step-by-step figure.

- ``ablation``: the real-world set (and its shadowed / ruled synthetic slices) scored with each preprocessing
  step of ``charclf.apps.imageprep`` turned off in turn, one row per step, next to the all-steps row and the
  old preprocessing's "before" row read from their artifacts. Written as one JSON artifact after every row, so
  an interrupted run keeps what it measured and a rerun with the same model, manifest and preprocessing
  source resumes instead of scoring again (a full row costs minutes on 2 cores).
- ``goals_table``: before / after / target / met for the goals of the real-handwriting issue, every number read
  from the scorer's artifacts and the shipped model's ``metrics.json``.
- ``steps_figure``: a few real images through the preprocessing with the steps switched on one after another;
  ``charclf evaluate-images --ablation`` writes it as ``steps.png`` beside the ablation (notebook 10 shows it).
"""
from __future__ import annotations

import functools
import time
from pathlib import Path

import numpy as np

from charclf.class_prior import recorded_prior
# notebook 10 reads these here:
from charclf.eval.realworld_scores import GOALS, dig, part_verdict, read_artifact, read_current_artifact  # noqa: F401
from charclf.errors import DataError, printable
from charclf.fileio import atomic_path, check_writable, refuse_to_replace, write_json
from charclf.apps.realworld import SYNTHETIC_FROM, VARIANT_FUNCS, VARIANTS, evaluate, load_row_image, provenance

# A floor, not an accuracy goal: the real-world work must not cost the shipped model its EMNIST accuracy (issue
# #39). Notebook 11's single-model goal (charclf.study.goals) is a separate, higher target.
EMNIST_GOAL = ("emnist_test", "EMNIST holdout test accuracy of the shipped model (a floor: notebook 11's "
               "single-model goal is separate)", 0.87)
STEPS_FIGURE = "steps.png"  # written by `charclf evaluate-images --ablation`, shown by notebook 10


# -- ablation -------------------------------------------------------------------------------------------------
def summary_row(metrics: dict, disabled: str) -> dict:
    """One ablation row from ``evaluate``'s metrics: overall, merged by kind / capture / source, synthetic."""
    row = {"disabled": disabled, "prior": recorded_prior(metrics), "n": metrics["overall"]["n"],
           "top1": metrics["overall"]["top1"],
           "top5": metrics["overall"]["top5"], "merged_top1": metrics["overall"]["merged_top1"]}
    for key in ("kind", "capture", "source"):
        row |= {f"{key}={name}": s["merged_top1"] for name, s in metrics.get(key, {}).items()}
    row |= {f"{v}_merged": s["merged_top1"] for v, s in metrics.get("synthetic", {}).items()}
    # The dev part, where the steps may be chosen, and the held-out part, which says whether a step holds.
    row |= {f"part={name}": s["overall"]["merged_top1"] for name, s in metrics.get("parts", {}).items()}
    row["preprocess_failures"] = metrics.get("preprocess_failures")
    return row


def _same_inputs(a: dict, b: dict) -> bool:
    """Two provenances scored the same weights, manifest and preprocessing code, under the same class prior (so a
    row can be reused). An artifact written before the prior was recorded scored under the training prior."""
    keys = (("model_weights_sha256",), ("manifest_sha256",), ("preprocessing", "source_sha256"),
            ("preprocessing", "version"))
    package = ("preprocessing", "package_sha256")  # absent from artifacts written before it was recorded
    return (all(dig(a, k) is not None and dig(a, k) == dig(b, k) for k in keys)
            and recorded_prior(a) == recorded_prior(b)
            and (dig(a, package) is None or dig(b, package) is None or dig(a, package) == dig(b, package)))


def _read_ablation(out: Path, overwrite: bool, log) -> dict | None:
    """The earlier ablation at ``out`` (None when there is none). A damaged one (a run killed mid-write before
    writes were atomic, a hand edit) is refused, with the fix that clears it; under ``overwrite`` it is ignored
    (it stays on disk until the first new row replaces it), while a readable one is still resumed."""
    from charclf.provenance import read_json

    if out.is_dir():  # no --overwrite replaces a folder with a file
        raise DataError(out, "is a folder, not an ablation artifact", "pass --out the path of a .json file")
    if not out.exists():
        return None
    fix = ("rerun the same `charclf evaluate-images --ablation` command with --overwrite to score it again (its rows "
           "are lost), or pass another --out")
    try:
        old = read_json(out, fix)
        if not isinstance(old, dict):
            raise DataError(out, f"holds a JSON {type(old).__name__}, not an ablation artifact", fix)
    except DataError as err:
        if not overwrite:
            raise
        log(f"  {printable(out.name)}: {err.problem}; scoring every row again (--overwrite)")
        return None
    return old


def ablation(model_dir: Path, root: Path, manifest: Path, out: Path, *, steps=None, variants=VARIANTS,
             workers: int = 1, after: Path | None = None, before: Path | None = None, overwrite: bool = False,
             log=print, prior: str = "auto") -> dict:
    """Score the set once per preprocessing step with that step off; write ``out`` after every row.

    ``after``: the all-steps artifact of ``charclf evaluate-images``; its metrics become the all-steps row when
    it scored the same weights, manifest and preprocessing code, else that row is scored here. ``before``: the
    old preprocessing's artifact, copied in as the reference row. Rows already in ``out`` from the same inputs
    are kept, not rescored (under ``overwrite`` too); an ``out`` of other inputs, or a damaged one, is refused unless
    ``overwrite``; ``out`` is only ever replaced whole (``charclf.fileio``). Every row predicts under
    ``prior`` (``charclf.class_prior``); each row, the reference's too, says which prior it scored under.
    """
    from charclf.apps.imageprep import STEPS, preprocess_image
    from charclf.apps.realworld import require_local
    from charclf.data.realworld import read_manifest
    from charclf.class_prior import resolve_prior
    from charclf.models.hub import load_model

    steps = tuple(STEPS if steps is None else steps)
    start = time.perf_counter()
    rows = read_manifest(manifest)
    require_local(root, rows)
    model = load_model(model_dir)
    prior = resolve_prior(model.charclf_config, prior)
    prov = provenance(model_dir, manifest, root, 0.0, prior=prior)
    prov["variants"] = list(variants)
    done = {}
    old = _read_ablation(out, overwrite, log)
    if old is not None:
        if _same_inputs(old.get("provenance", {}), prov) and old["provenance"].get("variants") == list(variants):
            done = {r["disabled"]: r for r in old.get("rows", [])}  # the same inputs: resumed, nothing replaced
        else:  # another model, set or preprocessing: its rows would be lost
            refuse_to_replace(out, overwrite=overwrite)
    check_writable(out.parent, "--out", for_file=out)  # refused now, not after the first row's minutes
    # A resumed artifact's reference row stays unless a --before file replaces it.
    reference = dict(old.get("reference", {})) if done else {}
    if before is not None and before.is_file():
        b = read_artifact(before)
        try:
            row = summary_row(b["metrics"], "old preprocessing (before)")
        except (KeyError, TypeError, AttributeError) as err:  # valid JSON of another shape
            raise DataError(before, "is not an artifact of charclf evaluate-images (no metrics with overall, kind "
                            "and capture scores)", "pass --before the JSON that evaluate-images wrote for the old "
                            "preprocessing") from err
        reference["before"] = row | {
            "artifact": before.name, "preprocess_version": dig(b, ("provenance", "preprocessing", "version"))}

    def write(complete: bool) -> dict:
        # Every row scored for these inputs, also steps outside this call's --steps: a narrower rerun adds
        # rows, it never drops the ones an earlier call scored.
        ordered = [done[k] for k in ("none", *STEPS) if k in done] + [
            done[k] for k in done if k not in ("none", *STEPS)]
        scored = [k for k in STEPS if k in done]
        artifact = {"rows": ordered, "reference": reference, "steps": list(STEPS),
                    "complete": complete and len(scored) == len(STEPS),
                    "provenance": prov | {"seconds": round(time.perf_counter() - start, 1)}}
        # Atomic: a kill or a full disk mid-write keeps the previous rows, never half a file.
        write_json(out, artifact, indent=1)
        return artifact

    # The all-steps row last: the evaluate-images run that provides it may still be finishing meanwhile.
    for step in (*steps, "none"):
        if step in done:
            log(f"  {step}: kept from {out.name}")
            continue
        if step == "none" and after is not None and after.is_file():
            a = read_artifact(after)
            if _same_inputs(a.get("provenance", {}), prov):
                done[step] = summary_row(a["metrics"], "none") | {"artifact": after.name}
                log(f"  none: read from {after.name}")
                continue
        t0 = time.perf_counter()
        prep = functools.partial(preprocess_image, disable=() if step == "none" else (step,))
        metrics, _ = evaluate(model, rows, root, variants=variants, workers=workers, preprocess=prep, prior=prior)
        done[step] = summary_row(metrics, step) | {"seconds": round(time.perf_counter() - t0, 1)}
        log(f"  {step} off: merged top-1 {metrics['overall']['merged_top1']:.1%} "
            f"({time.perf_counter() - t0:.0f} s)")
        write(False)
    return write(True)


def ablation_table(artifact: dict):
    """The ablation as a DataFrame: one row per disabled step (+ the before row), percentages, and the change
    of merged top-1 against the all-steps row."""
    import pandas as pd

    rows = [artifact["reference"]["before"]] if "before" in artifact.get("reference", {}) else []
    rows += artifact["rows"]
    # Each row's class prior (rows written before it was recorded scored under the training prior).
    table = pd.DataFrame([{**r, "prior": recorded_prior(r)} for r in rows]).set_index("disabled")
    # Per source is left to the JSON: capture already splits the set (photo = photo_cards + photo_pen).
    keep = [c for c in table.columns if c in ("prior", "n", "top1", "top5", "merged_top1", "preprocess_failures")
            or c.startswith(("kind=", "capture=", "part=")) or c.endswith("_merged")]
    table = table[keep]
    base = next((r["merged_top1"] for r in artifact["rows"] if r["disabled"] == "none"), None)
    if base is not None:
        table.insert(table.columns.get_loc("merged_top1") + 1, "Δ merged", table["merged_top1"] - base)
    return table


# -- goals ----------------------------------------------------------------------------------------------------
def emnist_test_accuracy(artifact: dict, repo_root: Path | None = None) -> float | None:
    """The holdout test accuracy from the metrics.json of the model an artifact scored, when the model folder
    still holds the weights the artifact names (else None: a different model was shipped since)."""
    from charclf.eval.realworld_scores import describes_current_weights
    from charclf.provenance import REPO_ROOT

    metrics = (repo_root or REPO_ROOT) / str(artifact.get("provenance", {}).get("model", "")) / "metrics.json"
    if not (describes_current_weights(artifact, repo_root) and metrics.is_file()):
        return None
    from charclf.provenance import read_json

    return dig(read_json(metrics, "restore it with git"), ("evaluation", "test", "accuracy"))


def goals_table(before: dict, after: dict, *, repo_root: Path | None = None):
    """The issue's goals: before / after / target / met, from two ``evaluate-images`` artifacts."""
    import pandas as pd

    rows = []
    for key, what, path, target in GOALS:
        m = after.get("metrics", {})
        b, a = dig(before.get("metrics", {}), path), dig(m, path)
        dev, held = dig(m, ("parts", "dev", *path)), dig(m, ("parts", "heldout", *path))
        n_held = dig(m, ("parts", "heldout", *path[:-1], "n"))
        se = dig(m, ("parts", "heldout", *path[:-1], f"{path[-1]}_se"))
        rows.append({"goal": what, "before": b, "after": a, "dev": dev, "held-out": held, "target": target,
                     **part_verdict(a, held, n_held, target, se)})
    key, what, target = EMNIST_GOAL
    b, a = emnist_test_accuracy(before, repo_root), emnist_test_accuracy(after, repo_root)
    verdict = emnist_verdict(after, target, a, repo_root)
    rows.append({"goal": what, "before": b, "after": a, "target": target,
                 "met": None if verdict is None else verdict.startswith("met"), "verdict": verdict})
    return pd.DataFrame(rows).set_index("goal")


def emnist_verdict(artifact: dict, target: float, shipped: float | None, repo_root: Path | None = None) -> str | None:
    """The EMNIST goal's words: the shipped seed's test accuracy is one of the seeds its model folder's
    ``seeds.json`` records; with three, their mean +- std decide, "within noise" when the margin is under one std."""
    from charclf.errors import CharclfError
    from charclf.provenance import REPO_ROOT, read_json

    if shipped is None:
        return None
    path = (repo_root or REPO_ROOT) / str(artifact.get("provenance", {}).get("model", "")) / "seeds.json"
    try:
        seeds = read_json(path, "publish the model again (tools/publish_models.py) to write its seeds.json")
        mean, std, n = float(seeds["test_acc_mean"]), float(seeds["test_acc_std"]), int(seeds["n"])
    except (CharclfError, ValueError, KeyError, TypeError):
        return "not met: one seed (no seeds.json beside the model), a goal needs 3"
    from charclf.eval.seeds import verdict

    _, words = verdict(mean, target, std, seeds=n)  # as every goal with seeds: their mean, against one std
    return f"{words} ({n}-seed mean {mean:.2%} ± {std:.2%}; the shipped seed {shipped:.2%})"


# -- the steps, shown ------------------------------------------------------------------------------------------
def pick_examples(rows, per_capture: int = 1, variants=VARIANTS) -> list[tuple]:
    """(row, variant) pairs for a committed figure, from the sources whose licence lets it show their images
    (``may_show``): the first image of each, then synthetic copies of the first tablet drawing among them. With
    no showable tablet drawing there are no copies: the evaluation makes its copies from tablet drawings only,
    and copies of a small photographed crop would show a condition it never scores."""
    from charclf.data.realworld import may_show

    rows = [r for r in rows if may_show(r.source)]
    picked, seen = [], {}
    for r in rows:
        if seen.get(r.source, 0) < per_capture:
            seen[r.source] = seen.get(r.source, 0) + 1
            picked.append((r, "original"))
    base = next((r for r in rows if r.capture == SYNTHETIC_FROM), None)
    if base is not None:
        picked += [(base, v) for v in variants]
    return picked


def steps_figure(examples, root: Path, *, title: str = "The preprocessing, one step at a time"):
    """A grid: per example, the image as given, then the 28x28 the model would see with no step, then with the
    steps of ``PrepOptions`` switched on one after another (the last column is the full preprocessing)."""
    import matplotlib.pyplot as plt
    import numpy as np

    from charclf.apps.imageprep import STEPS, PrepOptions, preprocess_image
    from charclf.errors import CharclfError

    states = [("no step", PrepOptions().without(*STEPS))]
    states += [(f"+ {s}", PrepOptions().without(*STEPS[i + 1:])) for i, s in enumerate(STEPS)]
    fig, axes = plt.subplots(len(examples), len(states) + 1, figsize=(1.45 * (len(states) + 1),
                                                                      1.6 * len(examples) + 0.6), squeeze=False)
    for r, (row, variant) in enumerate(examples):
        image = load_row_image(row, root)
        if variant != "original":
            image = VARIANT_FUNCS[variant](image)
        axes[r, 0].imshow(np.asarray(image.convert("RGB")))
        axes[r, 0].set_ylabel(f"{row.label} · {row.source}\n{variant}", fontsize=7)
        for c, (name, opts) in enumerate(states, start=1):
            ax = axes[r, c]
            try:
                # preprocess_image itself, so the last column (every step) is what predict reads, or refuses
                ax.imshow(preprocess_image(image, options=opts), cmap="gray", vmin=0, vmax=255)
            except CharclfError:
                ax.text(0.5, 0.5, "refused", ha="center", va="center", fontsize=7, transform=ax.transAxes)
            if r == 0:
                ax.set_title(name.replace("_", " "), fontsize=7)
        if r == 0:
            axes[r, 0].set_title("as given", fontsize=7)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def write_steps_figure(rows, root: Path, path: Path, *, variants=VARIANTS, dpi: int = 110) -> Path:
    """``steps_figure`` of ``pick_examples(rows)`` saved as a PNG at ``path`` (the figure notebook 10 shows)."""
    import matplotlib.pyplot as plt

    fig = steps_figure(pick_examples(rows, variants=variants), root)
    try:
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=dpi, facecolor="white")
    finally:
        plt.close(fig)  # pyplot keeps every figure it made until closed
    return path


# -- notebook tables --------------------------------------------------------------------------------------------
def sources_table(sources: dict, rows):
    """Per source: where it comes from, its licence, how it was captured, how labels are known, and counts."""
    import pandas as pd

    out = []
    for name, src in sources.items():
        mine = [r for r in rows if r.source == name]
        out.append({"source": name, "repository": f"{src['repo']}@{src['commit'][:7]}", "capture": src["capture"],
                    "images": len(mine), **{k: sum(r.kind == k for r in mine) for k in ("digit", "upper", "lower")},
                    "licence": src["licence"], "images in committed figures": "yes" if src.get("redistribute")
                    else "no (greyed out)", "labels known from": src["labels"]})
    return pd.DataFrame(out).set_index("source")


def slices_table(before: dict, after: dict):
    """top-1 and merged top-1 before and after, overall and by kind, capture, source and synthetic condition."""
    import pandas as pd

    def flat(metrics):
        rows = {"overall": metrics["overall"]}
        for key in ("kind", "capture", "source"):
            rows |= {f"{key}={k}": v for k, v in metrics.get(key, {}).items()}
        rows[f"{SYNTHETIC_FROM} (clean)"] = metrics.get("synthetic_base", {})
        rows |= {f"synthetic={k}": v for k, v in metrics.get("synthetic", {}).items()}
        return rows

    b, a = flat(before["metrics"]), flat(after["metrics"])
    out = [{"slice": k, "n": s.get("n"), "top-1 before": b.get(k, {}).get("top1"), "top-1 after": s.get("top1"),
            "merged before": b.get(k, {}).get("merged_top1"), "merged after": s.get("merged_top1"),
            "top-5 after": s.get("top5")} for k, s in a.items()]
    table = pd.DataFrame(out).set_index("slice")
    table["Δ merged"] = table["merged after"] - table["merged before"]
    return table


ERROR_KINDS = ("case only (ByMerge forgives it)", "case only (ByMerge keeps the cases apart)",
               "letter read as a digit", "digit read as a letter", "another letter", "another digit")


def error_kind(label: str, pred: str, merged_ok: bool) -> str:
    """What kind of mistake ``label`` read as ``pred`` is: a case slip ByMerge forgives (c/C), one it does not
    (a/A: its two cases look different, so merged top-1 counts it wrong), a letter taken for a digit (o → 0), a
    digit taken for a letter, or a different letter or digit."""
    if merged_ok:
        return ERROR_KINDS[0]
    if label != pred and label.lower() == pred.lower():
        return ERROR_KINDS[1]
    if label.isdigit() != pred.isdigit():
        return ERROR_KINDS[2] if pred.isdigit() else ERROR_KINDS[3]
    return ERROR_KINDS[5] if label.isdigit() else ERROR_KINDS[4]


def error_kinds_table(artifact: dict):
    """The wrong answers on the real images (the synthetic copies left out), by character kind (digit, upper,
    lower): how many, and of which :data:`ERROR_KINDS` — from the artifact's error list, nothing re-scored."""
    import pandas as pd

    errors = [e for e in artifact["errors"] if e["variant"] == "original" and e.get("pred") is not None]
    rows = []
    for kind, counts in artifact["metrics"]["kind"].items():
        mine = [error_kind(e["label"], e["pred"], e["merged_ok"]) for e in errors if e["kind"] == kind]
        rows.append({"kind": kind, "n": counts["n"], "wrong": len(mine), **{k: mine.count(k) for k in ERROR_KINDS}})
    return pd.DataFrame(rows).set_index("kind")


def top_confusions(artifact: dict, kind: str, n: int = 8):
    """The ``n`` most frequent ``label → guess`` mistakes of ``kind`` on the real images that even merged
    top-1 counts wrong (case slips left out), with their counts."""
    import collections

    import pandas as pd

    pairs = collections.Counter(f"{e['label']} → {e['pred']}" for e in artifact["errors"]
                                if e["variant"] == "original" and e["kind"] == kind and not e["merged_ok"]
                                and e.get("pred") is not None)
    return pd.DataFrame(pairs.most_common(n), columns=["label → guess", "count"]).set_index("label → guess")


def error_kind_line(table, kind: str = "lower") -> str:
    """One sentence on ``kind``'s mistakes from :func:`error_kinds_table`."""
    r = table.loc[kind]
    parts = [f"{r[k]} {k}" for k in ERROR_KINDS if r[k]]
    return (f"Of the {r['wrong']} wrong {kind}-case answers (of {r['n']}): " + ", ".join(parts) + ".")


def _points(delta: float) -> str:
    """A change of two accuracies, in points: +0.6 points (a difference is not a percentage of anything)."""
    return f"{100 * delta:+.1f} points"


def findings(goals, slices, ablation_artifact: dict | None) -> list[str]:
    """Short sentences computed from the goals, slices and ablation tables (nothing typed in by hand)."""
    met = goals[goals["met"] == True]  # noqa: E712  (a column of True / False / None)
    # "met, within noise" (a margin under one std or s.e.) is said as such, never counted as a plain met.
    noisy = [g for g, r in met.iterrows() if "within noise" in str(r.get("verdict") or "")]
    clear = [g for g in met.index if g not in noisy]
    lines = [f"{len(met)} of {len(goals)} goals are met" + (f" ({len(noisy)} of them within noise)" if noisy else "")
             + ": " + (", ".join(clear + [f"{g} (within noise)" for g in noisy]) or "none") + "."]
    missed = goals[goals["met"] == False]  # noqa: E712
    for goal, r in missed.iterrows():
        was = "" if r["before"] is None or r["before"] != r["before"] else f" (before {r['before']:.1%})"
        held = r.get("held-out")
        where = (f"{held:.1%} on the held-out part ({r['after']:.1%} on the whole set)"
                 if held is not None and held == held else f"{r['after']:.1%}")
        lines.append(f"Not met: {goal}: {where} against {r['target']:.0%}{was}.")
    moved = slices.dropna(subset=["Δ merged"]).sort_values("Δ merged")
    top, low = moved.iloc[-1], moved.iloc[0]
    lines.append(f"The new preprocessing moved merged top-1 overall from {slices.loc['overall', 'merged before']:.1%} "
                 f"to {slices.loc['overall', 'merged after']:.1%}; the largest gain is {top.name} "
                 f"({_points(top['Δ merged'])}), the " + ("largest loss" if low["Δ merged"] < 0 else "smallest gain")
                 + f" {low.name} ({_points(low['Δ merged'])}).")
    if ablation_artifact and ablation_artifact.get("rows"):
        table = ablation_table(ablation_artifact).drop(index=["old preprocessing (before)"], errors="ignore")
        steps = table.drop(index=["none"], errors="ignore")
        if len(steps) and "Δ merged" in table.columns:
            worst = steps["Δ merged"].idxmin()
            syn = [c for c in ("shadowed_merged", "ruled_merged") if c in steps.columns]
            held = ("part=heldout" in table.columns and "none" in table.index
                    and steps.loc[worst, "part=heldout"] == steps.loc[worst, "part=heldout"])  # not NaN
            lines.append(f"Turning off {worst} costs the most on the real set ({_points(steps.loc[worst, 'Δ merged'])} "
                         f"merged top-1" + (f"; on the held-out part "
                                            f"{_points(steps.loc[worst, 'part=heldout'] - table.loc['none', 'part=heldout'])}"
                                            if held else "") + ")" + "".join(
                             f"; on the {c.split('_')[0]} copies {steps[c].idxmin()} matters most "
                             f"({_points(steps[c].min() - table.loc['none', c])})" for c in syn
                             if "none" in table.index) + ".")
            helpless = []
            for step in steps.index[steps["Δ merged"] >= 0]:
                hurt = [f"{c.split('_')[0]} copies {_points(steps.loc[step, c] - table.loc['none', c])}" for c in syn
                        if "none" in table.index and steps.loc[step, c] < table.loc["none", c]]
                helpless.append(f"{step} (without it: merged top-1 {_points(steps.loc[step, 'Δ merged'])}; "
                                + (", ".join(hurt) if hurt else "no slice loses") + ")")
            if helpless:
                lines.append("Steps whose removal raises or keeps merged top-1 on the real set (one set, no noise "
                             "estimate: candidates to drop, to be decided on other data than this set): "
                             + ", ".join(helpless) + ".")
        if not ablation_artifact.get("complete", True):
            lines.append("The ablation is incomplete: steps " + ", ".join(
                s for s in ablation_artifact["steps"] if s not in table.index) + " were not scored.")
    return lines


def as_percent(table, keep=("n", "preprocess_failures")):
    """A copy with every float column written as a percentage (a plain DataFrame renders without the random
    ids a pandas Styler adds, so the rendered notebook diffs cleanly)."""
    out = table.copy()
    for col in out.columns:
        if col not in keep and out[col].dtype.kind in "fO":
            out[col] = [("–" if v is None or v != v else f"{v:+.1%}" if col.startswith("Δ") else f"{v:.1%}")
                        if not isinstance(v, (bool, str)) else v for v in out[col]]
    return out


# -- methods tried on the dev part (tools/realworld_dev_methods.py) ---------------------------------------------
def dev_methods_table(artifact: dict):
    """One row per arm and way of answering (plain, TTA, the seeds' average): merged top-1 (mean ± std over
    seeds), lower case merged, top-1, the change of merged top-1 against what ships (the shipped recipe as
    ``charclf predict`` answers), paired seed by seed where both arms have the seeds (else against its mean), and
    each arm's training and val precision: the arms are other models and recipes, not one-change pairs, and where
    their precision differs from the shipped arm's the column says so."""
    import pandas as pd

    from charclf.eval.seeds import mean_pm_std

    arms, shipped = artifact["arms"], artifact["arms"][artifact["shipped"]]
    base = [s["plain"]["merged_top1"] for s in shipped["seeds"]]
    rows = []
    for arm, entry in arms.items():
        if "members" in entry:  # the study's ensemble: one set of members, no seeds
            avg = entry["plain"]
            rows.append({"arm": arm, "answer": "mean of its members' probabilities", "seeds": None,
                         "merged top-1": f"{avg['merged_top1']:.1%}",
                         "Δ merged vs shipped": f"{100 * (avg['merged_top1'] - float(np.mean(base))):+.1f}",
                         "lower merged": f"{avg['lower_merged_top1']:.1%}", "top-1": f"{avg['top1']:.1%}",
                         "precision (train / val)": entry.get("precision", "?"), "what": entry["what"]})
            continue
        for mode, words in (("plain", "as predict answers"), ("tta", "TTA")):
            m = entry[mode]
            mine = [s[mode]["merged_top1"] for s in entry["seeds"]]
            paired = len(mine) == len(base) > 1
            deltas = [a - b for a, b in zip(mine, base)] if paired else [v - float(np.mean(base)) for v in mine]
            rows.append({"arm": arm, "answer": words, "seeds": len(mine),
                         "merged top-1": mean_pm_std(m["merged_top1"]["mean"], m["merged_top1"]["std"], ".1%"),
                         "Δ merged vs shipped": _delta_text(deltas),  # points
                         "lower merged": mean_pm_std(m["lower_merged_top1"]["mean"], m["lower_merged_top1"]["std"],
                                                     ".1%"),
                         "top-1": mean_pm_std(m["top1"]["mean"], m["top1"]["std"], ".1%"),
                         "precision (train / val)": entry.get("precision", "?"), "what": entry["what"]})
        for mode, words in (("plain", "seed average"), ("tta", "seed average + TTA")):
            avg = entry.get("seed_average", {}).get(mode)
            if avg:
                rows.append({"arm": arm, "answer": words, "seeds": len(entry["seeds"]),
                             "merged top-1": f"{avg['merged_top1']:.1%}",
                             "Δ merged vs shipped": f"{100 * (avg['merged_top1'] - float(np.mean(base))):+.1f}",
                             "lower merged": f"{avg['lower_merged_top1']:.1%}", "top-1": f"{avg['top1']:.1%}",
                             "precision (train / val)": entry.get("precision", "?"), "what": entry["what"]})
    return pd.DataFrame(rows).set_index(["arm", "answer"])


def _delta_text(deltas: list[float]) -> str:
    if len(deltas) > 1:
        return f"{100 * np.mean(deltas):+.1f} ± {100 * np.std(deltas, ddof=1):.1f}"
    return f"{100 * deltas[0]:+.1f}"


# The gain on the dev part a way must show before it is a candidate: the capture augmentation's paired gain moved
# by about 3 points between the two parts (+1.8 on dev, about -1.4 on held-out), so one part of ~420 images
# cannot tell apart changes smaller than that. A rule set once (7 Dec 2026), before the ways below were compared.
DEV_GAIN_NEEDED = 0.03


def dev_methods_finding(artifact: dict) -> str:
    """The best of the ways tried on the dev part against the shipped one, and whether it clears the bar a dev
    gain must clear (:data:`DEV_GAIN_NEEDED`). Also the binomial s.e. of one accuracy on this many images, a lower
    bound on the noise: images of one writer are not independent, and the best of many tries is favoured by
    chance, so even a win here is a candidate, never a verdict."""
    n, shipped = artifact["n"], artifact["arms"][artifact["shipped"]]
    base = shipped["plain"]["merged_top1"]["mean"]
    se = (base * (1 - base) / n) ** 0.5
    cands = [(entry[mode]["merged_top1"]["mean"], f"{arm} ({'TTA' if mode == 'tta' else 'as predict answers'})")
             for arm, entry in artifact["arms"].items() if "members" not in entry for mode in ("plain", "tta")]
    cands += [(entry["plain"]["merged_top1"], arm) for arm, entry in artifact["arms"].items() if "members" in entry]
    cands += [(entry["seed_average"][mode]["merged_top1"], f"{arm} ({'seed average' + (' + TTA' if mode == 'tta' else '')})")
              for arm, entry in artifact["arms"].items() for mode in ("plain", "tta") if entry.get("seed_average")]
    best, name = max(cands)
    gap, target = best - base, dict((key, t) for key, _, _, t in GOALS)["merged_top1"]
    if gap < DEV_GAIN_NEEDED:
        then = (f"under the {100 * DEV_GAIN_NEEDED:.0f}-point gain a way must show on the dev part before it is a "
                "candidate (the capture augmentation's gain moved by about that much between the two parts), so "
                "the shipped model stays")
    else:  # a candidate: the held-out part and EMNIST val decide whether it ships
        then = ("a candidate, which may ship only where it also holds on the held-out part and EMNIST val does not "
                "fall (the rule of the capture comparison below)"
                + ("" if best >= target else f"; it stays under the {target:.0%} goal on dev"))
    return (f"on the dev part ({n} images), the shipped recipe reads {base:.1%} merged top-1 (1 binomial s.e. "
            f"{100 * se:.1f} points, a lower bound on the noise); the best of the {len(cands)} ways tried, the "
            f"maximum of many and so favoured by chance, is {name} at {best:.1%} ({100 * gap:+.1f} points); " + then)
