"""Results tables built from the artifacts the code wrote — the README's numbers come from here, not by hand.

``python -m charclf.study.report`` prints the results section; ``python tools/write_readme.py`` (a repo-only tool)
puts it into README.md. Every row names the artifact it was read from.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd

from charclf.errors import DataError
from charclf.eval.seeds import seed_stats
from charclf.paths import bench_dir, outputs_dir
from charclf.provenance import read_json, repo_relative

PROTOCOL_WORDS = {
    "holdout": "the offline re-split of the official ByClass test file: train 93,055 / val 11,634 / test 11,634",
    "official": "the published train/test files, val carved from train",
}
PROFILE_WORDS = {
    "quick": "quick profile — a small stratified subset and 1–2 epochs on 2 CPU cores: a smoke test of the "
             "whole pipeline that shows trends, **not** a result to compare with published numbers",
    "cpu": "complete training part, trained on 2 CPU cores",
    "full": "full profile — the complete training part, each recipe's own epochs",
}


def record_row(folder: Path, r) -> dict:
    """One table row of the RunRecord ``r`` saved in ``folder``: its own columns and its one test evaluation's."""
    test = r.test
    return {
        "run": repo_relative(folder),
        "model": r.model, "params": r.params, "macs": r.macs,
        "split": r.data.get("split"), "protocol": r.data.get("protocol"),
        "train_images": r.train_samples, "epochs": r.epochs_run, "val_acc": r.val_acc,
        "test_acc": test["accuracy"], "tta": r.tta, "merged47_acc": test.get("merged47_accuracy"),
        "f1_weighted": test.get("f1_weighted"), "train_time_s": r.train_time_s,
        "images_per_s": r.images_per_s, "precision": r.precision,
        # What val_acc ran in: fp32, or an older run's training precision until it is re-scored in fp32
        "val_precision": r.val_precision,
        # What chose the run's best epoch: its per-epoch val's numerics (older runs: their training precision)
        "epoch_chosen_on": r.epoch_chosen_on,
        "device": r.provenance.get("machine", {}).get("gpu") or r.device,
        # torch's CPU threads while it trained: training seconds compare only at the same count (and host)
        "threads": r.provenance.get("machine", {}).get("torch_threads"),
        "seed": r.seed, "git_sha": (r.git_sha or "")[:10],
    }


def run_rows(root: str | Path | None = None) -> pd.DataFrame:
    """One row per run record under ``root`` (default outputs/runs): every column from the run's RunRecord,
    every test column from its one test evaluation, and the folders that hold it (``profile``, ``group``: the
    results page is laid out by folder, and runs made outside the study record no profile)."""
    from charclf.eval.record import load_records

    root = Path(root) if root else outputs_dir() / "runs"
    rows = []
    for run, r in load_records(root).items():
        parts = run.relative_to(root).parts
        row = record_row(run, r)
        rows.append({"run": row.pop("run"),
                     "profile": parts[0],  # outputs/runs/<profile>/...
                     # outputs/runs/<profile>/<group>/<run>: the notebook experiment (04_training ...), "" for flat runs
                     "group": parts[1] if len(parts) > 2 else "", **row})
    return pd.DataFrame(rows)


REBUILD = "restore it with git, or run again the command that wrote it"
BENCH_COLUMNS = ("model", "pipeline", "batch_size", "images_per_s", "ratio")


def read_artifact(path: str | Path, keys: tuple[str, ...] = (), *, rows: dict[str, tuple[str, ...]] | None = None,
                  fix: str = REBUILD) -> dict:
    """The JSON object of an artifact the tables read, holding ``keys`` and, for each ``rows`` key, a list of
    objects holding its columns. A damaged artifact (unreadable, not UTF-8 or JSON, truncated, emptied to ``{}``)
    is one ``DataError`` naming the file, never a KeyError from deep inside a table."""
    data = read_json(path, fix)
    if not isinstance(data, dict):
        raise DataError(path, f"is not a JSON object (it holds a {type(data).__name__})", fix)
    missing = [key for key in (*keys, *(rows or {})) if key not in data]
    if missing:
        raise DataError(path, f"lacks the key(s) {', '.join(missing)}", fix)
    for key, columns in (rows or {}).items():
        if not isinstance(data[key], list) or not all(isinstance(row, dict) and set(columns) <= row.keys()
                                                      for row in data[key]):
            raise DataError(path, f"\"{key}\" is not a list of objects each holding {', '.join(columns)}", fix)
    return data


def bench_rows(path: str | Path | None = None) -> pd.DataFrame:
    path = Path(path) if path else bench_dir() / "bench-cpu.json"
    if not path.exists():
        return pd.DataFrame()
    bench = read_artifact(path, rows={"results": BENCH_COLUMNS},
                          fix="run `charclf bench` again, or restore the file with git")
    df = pd.DataFrame(bench["results"])
    df["artifact"] = repo_relative(path)
    return df


def _fmt(value, spec: str) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "–"
    return format(value, spec)


def precision_label(train: list, selection: list, epoch_chosen_on: list | None = None) -> str:
    """``"bf16 / val fp32"``-style: the training precision of each run (counted where they differ) and the
    precision of the val score that compares runs (``None``: an older run, whose val ran in its training
    precision); where the per-epoch val that chose each run's best epoch ran in another precision (an older
    bf16 run re-scored in float32), ``"bf16 / val fp32, epoch chosen on bf16 val"``."""
    def counted(values):
        counts = Counter(values)
        return counts.most_common(1)[0][0] if len(counts) == 1 else ", ".join(
            f"{v} ×{n}" for v, n in sorted(counts.items()))
    scored = [s or t for t, s in zip(train, selection)]
    label = f"{counted(train)} / val {counted(scored)}"
    if epoch_chosen_on is not None:
        chose = [c or t for t, c in zip(train, epoch_chosen_on)]
        if chose != scored:
            label += f", epoch chosen on {counted(chose)} val"
    return label


def run_precision(record) -> str:
    """``"bf16 / val fp32"``: the precision a run trained in and the one its val score ran in, with ", epoch
    chosen on bf16 val" where the per-epoch val that chose its weights ran in another (an older bf16 run,
    re-scored in float32): :func:`precision_label` of one run."""
    return records_precision([record])


def records_precision(records) -> str:
    """:func:`precision_label` of several runs' records (a model's seeds), counted where they differ:
    ``"bf16 ×1, fp32 ×2 / val fp32, epoch chosen on bf16 ×1, fp32 ×2 val"``."""
    return precision_label([r.precision for r in records], [r.val_precision for r in records],
                           [r.epoch_chosen_on for r in records])


def entry_precisions(rows: pd.DataFrame) -> pd.Series:
    """Per entry of :func:`charclf.study.beyond.model_rows`: the precisions of its seeds, counted where they
    differ (``frontier``'s own column shows the first seed's only)."""
    return pd.Series({entry: precision_label(list(g["precision"]), list(g["val_precision"]),
                                             list(g["epoch_chosen_on"]))
                      for entry, g in rows.groupby("entry")}, name="precision (train / val)")


def _precision(r) -> str:
    """"bf16 / fp32": the training precision and the one the val column ran in (an older run's val, recorded
    as None, ran in its training precision), and ", epoch chosen on bf16" where the per-epoch val that chose
    the weights ran in another."""
    train = _fmt(r.precision, "s")
    selection = getattr(r, "val_precision", None)  # run_rows and RunRecord: what the val column ran in
    chose = getattr(r, "epoch_chosen_on", None)
    label = f"{train} / {selection if isinstance(selection, str) else train}"
    return label + (f", epoch chosen on {chose}" if isinstance(chose, str) and chose != selection else "")


def _seed_summary(runs: pd.DataFrame) -> list[str]:
    """Markdown lines: mean +- std (sample std) of val and test accuracy per model, where a model has >1 seed."""
    stats = seed_stats(runs)
    stats = stats[stats.n > 1].sort_values("test_mean", ascending=False)
    if stats.empty:
        return []
    lines = ["", "Mean ± std over seeds (sample std), same recipe and data, one row per model:", "",
             "| model | seeds | val acc | test acc | TTA | precision (train / val) |", "|---|---:|---:|---:|---|---|"]
    tta = runs.groupby("model")["tta"].agg(lambda v: {True: "yes", False: "no"}.get(v.iloc[0], "?")
                                           if v.nunique(dropna=False) == 1 else "mixed")
    precisions = {model: precision_label(list(g["precision"]), list(g.get("val_precision", [None] * len(g))),
                                         list(g.get("epoch_chosen_on", [None] * len(g))))
                  for model, g in runs.groupby("model")}
    for model, r in stats.iterrows():
        lines.append(f"| `{model}` | {int(r.n)} | {r.val_mean:.2%} ± {r.val_std:.2%} | "
                     f"**{r.test_mean:.2%} ± {r.test_std:.2%}** | {tta[model]} | {precisions[model]} |")
    return lines


SMOKE_PROFILES = ("quick",)


def results_markdown(root: str | Path | None = None, *, smoke: bool = False, bench: bool | None = None) -> str:
    """RESULTS.md's tables, as Markdown: the runs of every profile but the smoke-test ones (``smoke=False``), or
    only those (``smoke=True``: the quick profile, a test of the pipeline and never a result). ``bench``: add the
    throughput table (default: with the results, not with the smoke test)."""
    df = run_rows(root)
    if not df.empty:
        df = df[df["profile"].isin(SMOKE_PROFILES) == smoke]
    lines = []
    if df.empty:
        lines.append("_No finished runs yet._")
    # No run at all is a frame without columns: nothing to group (grouping it raised KeyError 'profile').
    for (profile_dir, protocol), group in ([] if df.empty else df.groupby(["profile", "protocol"], sort=False)):
        lines += ["", f"**`outputs/runs/{profile_dir}/`** ({PROFILE_WORDS.get(profile_dir, profile_dir)}) — "
                      f"{group['split'].iloc[0]}, **{protocol} protocol** ({PROTOCOL_WORDS.get(protocol, protocol)}), "
                      f"device: {', '.join(sorted(set(map(str, group['device']))))}; trained in "
                      + ", ".join(f"{precision} ({n} runs)" for precision, n in
                                  sorted(Counter(group["precision"].fillna("?")).items())) + "."]
        # Notebook 04 (and flat run folders) in the main table; every other experiment in a table of its own.
        # A profile with no such run (MNIST transfer only) gets no main table: an empty header says nothing.
        main = group[group["group"].isin(["", "04_training"])]
        if not main.empty:
            lines += ["", "| model | params | MACs | train images | epochs | val acc | test acc | TTA | "
                          "merged-47 acc | weighted F1 | precision (train / val) | train time | images/s | artifact |",
                      "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---|---:|---:|---|"]
        for r in main.sort_values("test_acc", ascending=False).itertuples():
            lines.append(f"| `{r.model}` | {r.params:,} | {r.macs / 1e6:.1f} M | {_fmt(r.train_images, ',')} | "
                         f"{_fmt(r.epochs, 'd')} | {_fmt(r.val_acc, '.2%')} | **{_fmt(r.test_acc, '.2%')}** | "
                         f"{ {True: 'yes', False: 'no'}.get(r.tta, '?')} | "
                         f"{_fmt(r.merged47_acc, '.2%')} | {_fmt(r.f1_weighted, '.3f')} | {_precision(r)} | "
                         f"{_fmt(r.train_time_s, '.0f')} s | {_fmt(r.images_per_s, ',.0f')} | "
                         f"[{r.run}]({r.run}/metrics.json) |")
        lines += _seed_summary(main)
        for name, sub in group[~group["group"].isin(["", "04_training"])].groupby("group", sort=True):
            lines += ["", f"`{name}` ({profile_dir} profile):", "",
                      "| run | model | train images | epochs | val acc | test acc | TTA | precision (train / val) | "
                      "artifact |",
                      "|---|---|---:|---:|---:|---:|---|---|---|"]
            for r in sub.sort_values("run").itertuples():
                lines.append(f"| {r.run.split('/' + name + '/', 1)[-1]} | `{r.model}` | {_fmt(r.train_images, ',')} | "
                             f"{_fmt(r.epochs, 'd')} | {_fmt(r.val_acc, '.2%')} | {_fmt(r.test_acc, '.2%')} | "
                             f"{ {True: 'yes', False: 'no'}.get(r.tta, '?')} | {_precision(r)} | [metrics]({r.run}/metrics.json) |")
    lines += _unrecorded_lines(Path(root) if root else outputs_dir() / "runs", smoke=smoke)
    # The bench beside the runs (outputs/bench next to outputs/runs), so a given root reads one outputs folder.
    bench_path = Path(root).parent / "bench" / "bench-cpu.json" if root else None
    bench = bench_rows(bench_path) if (not smoke if bench is None else bench) else pd.DataFrame()
    if not bench.empty:
        lines += ["", f"**Training throughput on this 2-core CPU** (`charclf bench`, batch "
                      f"{int(bench['batch_size'].iloc[0])}, artifact [{bench['artifact'].iloc[0]}]"
                      f"({bench['artifact'].iloc[0]})): images/s of one training step, and the ratio over the "
                      "usual torchvision `Dataset` + `RandomAffine` + `DataLoader` pipeline of the earlier works.", "",
                  "| model | pipeline | images/s | ratio |", "|---|---|---:|---:|"]
        for r in bench.itertuples():
            lines.append(f"| {r.model} | {r.pipeline} | {r.images_per_s:,.0f} | {r.ratio:.2f}× |")
    return "\n".join(lines).strip()


def _unrecorded_lines(root: Path, *, smoke: bool) -> list[str]:
    """One line naming the run folders of these profiles that hold weights but no record: a table that silently
    lost a seed would show another mean +- std as if nothing were missing."""
    from charclf.eval.record import folders_without_record

    missing = {folder: why for folder, why in folders_without_record(root).items()
               if (folder.relative_to(root).parts[0] in SMOKE_PROFILES) == smoke}
    if not missing:
        return []
    named = ", ".join(f"`{repo_relative(folder)}` ({why})" for folder, why in missing.items())
    return ["", f"**Not in these tables:** {len(missing)} run folder(s) with weights but no run record: {named}. "
                "Fix: finish the run (`charclf plan` resumes it), or restore its metrics.json from git."]


def main(argv=None) -> int:
    from charclf.argtypes import Parser  # one-line errors, no option given twice

    Parser(description=__doc__).parse_args(argv)
    print(results_markdown())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
