"""Results tables built from the artifacts the code wrote — the README's numbers come from here, not by hand.

``python -m charclf.report --write-readme`` rewrites the block between ``<!-- RESULTS:START -->`` and
``<!-- RESULTS:END -->`` in README.md; every row names the artifact it was read from.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from charclf.paths import outputs_dir
from charclf.provenance import REPO_ROOT

START, END = "<!-- RESULTS:START -->", "<!-- RESULTS:END -->"

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


def _rel(path: Path) -> str:
    try:
        return path.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(path)


def run_precision(metrics: dict, meta: dict) -> str | None:
    """bf16 or fp32: what the run recorded; runs written before metrics.json recorded it resolved amp="auto"
    to bf16 on CUDA only, so their precision follows from their config and device."""
    if "precision" in metrics:
        return metrics["precision"]
    amp = meta.get("config", {}).get("amp")
    device = meta.get("machine", {}).get("device")
    if amp is None or device is None:
        return None
    return "bf16" if amp == "bf16" or (amp == "auto" and str(device).startswith("cuda")) else "fp32"


def run_rows(root: str | Path | None = None) -> pd.DataFrame:
    """One row per finished run folder (``metrics.json`` + ``config.json``) under ``root`` (default outputs/runs)."""
    from charclf.models import create_model, model_summary
    from charclf.models.registry import architecture_kwargs

    root = Path(root) if root else outputs_dir() / "runs"
    rows = []
    for metrics_path in sorted(root.rglob("metrics.json")):
        run = metrics_path.parent
        if not (run / "config.json").exists():
            continue
        metrics = json.loads(metrics_path.read_text())
        config = json.loads((run / "config.json").read_text())
        if "test_acc" not in metrics or "architecture" not in config:
            continue
        if "params" in metrics and "macs" in metrics:
            size = {"params": metrics["params"], "macs": metrics["macs"]}
        else:  # runs written before fit recorded the model's size
            size = model_summary(create_model(config["architecture"], num_classes=config["num_classes"],
                                              **architecture_kwargs(config.get("model_kwargs", {}))))
        test_eval, tta = test_evaluation(metrics)
        meta = metrics.get("run_metadata", {})
        data = metrics.get("data", {})
        rows.append({
            "run": _rel(run),
            "profile": run.relative_to(root).parts[0],  # outputs/runs/<profile>/...
            # outputs/runs/<profile>/<group>/<run>: the notebook experiment (04_training ...), "" for flat runs
            "group": run.relative_to(root).parts[1] if len(run.relative_to(root).parts) > 2 else "",
            "model": config["architecture"],
            "params": size["params"],
            "macs": size["macs"],
            "split": data.get("split", config.get("split")),
            "protocol": data.get("protocol", config.get("protocol")),
            "train_images": train_images(metrics),
            "epochs": metrics.get("epochs_run"),
            "val_acc": metrics.get("best_val_acc"),
            "test_acc": test_eval.get("accuracy", metrics.get("test_acc")),
            "tta": tta,
            "merged47_acc": test_eval.get("merged47_accuracy"),
            "f1_weighted": test_eval.get("f1_weighted"),
            "train_time_s": metrics.get("train_time_s"),
            "images_per_s": metrics.get("images_per_s"),
            "precision": run_precision(metrics, meta),
            "device": meta.get("machine", {}).get("gpu") or meta.get("machine", {}).get("device"),
            "seed": meta.get("seed"),
            "git_sha": (meta.get("git_sha") or "")[:10],
        })
    return pd.DataFrame(rows)


def train_images(metrics: dict) -> int | None:
    """The number of images the run trained on: ``train_samples`` (``fit`` records the part after any
    ``max_train_samples`` subset), not the size of the data's train part, which can be much larger (an MNIST
    transfer run on 3,000 of the 54,000 training images); older runs without it fall back to the part's size."""
    if metrics.get("train_samples") is not None:
        return int(metrics["train_samples"])
    return metrics.get("data", {}).get("sizes", {}).get("train")


def test_evaluation(metrics: dict) -> tuple[dict, bool | None]:
    """The run's one test evaluation and whether it used TTA: every test column of a table comes from it.

    Runs written by ``fit`` record which one (``test_tta``). For older runs the plain ``evaluation.test``
    (``charclf evaluate``, float32) is used when present; without any, only their ``test_acc`` is known
    (``{}``, TTA unknown: None)."""
    evaluation = metrics.get("evaluation", {})
    if "test_tta" in metrics:
        key = "test_tta" if metrics["test_tta"] else "test"
        return evaluation.get(key, {}), bool(metrics["test_tta"])
    if "test" in evaluation:
        return evaluation["test"], False
    return {}, None


def bench_rows(path: str | Path | None = None) -> pd.DataFrame:
    path = Path(path) if path else outputs_dir() / "bench" / "bench-cpu.json"
    if not path.exists():
        return pd.DataFrame()
    bench = json.loads(path.read_text())
    df = pd.DataFrame(bench["results"])
    df["artifact"] = _rel(path)
    return df


def _fmt(value, spec: str) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "–"
    return format(value, spec)


def _seed_summary(runs: pd.DataFrame) -> list[str]:
    """Markdown lines: mean +- std (sample std) of val and test accuracy per model, where a model has >1 seed."""
    counts = runs.groupby("model")["seed"].nunique()
    multi = counts[counts > 1].index
    if not len(multi):
        return []
    lines = ["", "Mean ± std over seeds (sample std), same recipe and data, one row per model:", "",
             "| model | seeds | val acc | test acc |", "|---|---:|---:|---:|"]
    stats = runs[runs["model"].isin(multi)].groupby("model").agg(
        n=("seed", "nunique"), val_mean=("val_acc", "mean"), val_std=("val_acc", "std"),
        test_mean=("test_acc", "mean"), test_std=("test_acc", "std")).sort_values("test_mean", ascending=False)
    for model, r in stats.iterrows():
        lines.append(f"| `{model}` | {r.n} | {r.val_mean:.2%} ± {r.val_std:.2%} | "
                     f"**{r.test_mean:.2%} ± {r.test_std:.2%}** |")
    return lines


def results_markdown(root: str | Path | None = None) -> str:
    """The README's results section, as Markdown."""
    df = run_rows(root)
    lines = []
    if df.empty:
        lines.append("_No finished runs yet._")
    for (profile_dir, protocol), group in df.groupby(["profile", "protocol"], sort=False):
        lines += ["", f"**`outputs/runs/{profile_dir}/`** ({PROFILE_WORDS.get(profile_dir, profile_dir)}) — "
                      f"{group['split'].iloc[0]}, **{protocol} protocol** ({PROTOCOL_WORDS.get(protocol, protocol)}), "
                      f"device: {', '.join(sorted(set(map(str, group['device']))))}.", "",
                  "| model | params | MACs | train images | epochs | val acc | test acc | TTA | merged-47 acc | "
                  "weighted F1 | precision | train time | images/s | artifact |",
                  "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---|---:|---:|---|"]
        # Notebook 04 (and flat run folders) in the main table; every other experiment in a table of its own.
        main = group[group["group"].isin(["", "04_training"])]
        for r in main.sort_values("test_acc", ascending=False).itertuples():
            lines.append(f"| `{r.model}` | {r.params:,} | {r.macs / 1e6:.1f} M | {_fmt(r.train_images, ',')} | "
                         f"{_fmt(r.epochs, 'd')} | {_fmt(r.val_acc, '.2%')} | **{_fmt(r.test_acc, '.2%')}** | "
                         f"{ {True: 'yes', False: 'no'}.get(r.tta, '?')} | "
                         f"{_fmt(r.merged47_acc, '.2%')} | {_fmt(r.f1_weighted, '.3f')} | {_fmt(r.precision, 's')} | "
                         f"{_fmt(r.train_time_s, '.0f')} s | {_fmt(r.images_per_s, ',.0f')} | "
                         f"[{r.run}]({r.run}/metrics.json) |")
        lines += _seed_summary(main)
        for name, sub in group[~group["group"].isin(["", "04_training"])].groupby("group", sort=True):
            lines += ["", f"`{name}` ({profile_dir} profile):", "",
                      "| run | model | train images | epochs | val acc | test acc | TTA | artifact |",
                      "|---|---|---:|---:|---:|---:|---|---|"]
            for r in sub.sort_values("run").itertuples():
                lines.append(f"| {r.run.split('/' + name + '/', 1)[-1]} | `{r.model}` | {_fmt(r.train_images, ',')} | "
                             f"{_fmt(r.epochs, 'd')} | {_fmt(r.val_acc, '.2%')} | {_fmt(r.test_acc, '.2%')} | "
                             f"{ {True: 'yes', False: 'no'}.get(r.tta, '?')} | [metrics]({r.run}/metrics.json) |")
    bench = bench_rows()
    if not bench.empty:
        lines += ["", f"**Training throughput on this 2-core CPU** (`charclf bench`, batch "
                      f"{int(bench['batch_size'].iloc[0])}, artifact [{bench['artifact'].iloc[0]}]"
                      f"({bench['artifact'].iloc[0]})): images/s of one training step, and the ratio over the "
                      "usual torchvision `Dataset` + `RandomAffine` + `DataLoader` pipeline of the earlier works.", "",
                  "| model | pipeline | images/s | ratio |", "|---|---|---:|---:|"]
        for r in bench.itertuples():
            lines.append(f"| {r.model} | {r.pipeline} | {r.images_per_s:,.0f} | {r.ratio:.2f}× |")
    return "\n".join(lines).strip()


def write_readme(readme: str | Path = REPO_ROOT / "README.md", root=None) -> Path:
    readme = Path(readme)
    text = readme.read_text()
    if START not in text or END not in text:
        raise ValueError(f"{readme}: markers {START} / {END} not found")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{START}\n{results_markdown(root)}\n{END}{tail}")
    return readme


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write-readme", action="store_true", help="rewrite README.md's results block")
    args = parser.parse_args(argv)
    if args.write_readme:
        print(f"updated {write_readme()}")
    else:
        print(results_markdown())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
