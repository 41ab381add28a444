"""Publishing a trained run into ``model_hub/<name>/`` with a model card written from its own artifacts.

The card's numbers are read from the run's ``metrics.json`` — never typed by hand — so every number in it
traces back to what the training and evaluation code measured.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from charclf.errors import DataError
from charclf.provenance import repo_relative

PUBLISHED_FILES = ("model.safetensors", "config.json", "metrics.json", "train_config.json", "history.csv")
# Where publishing moves the model folder it replaces: ``<outputs>/replaced/model_hub/<slot>-<UTC time>``, as
# retraining a study run moves the old run folder to ``<outputs>/replaced/`` (charclf.study.runs.set_aside).
# Nothing is deleted that publishing did not just write; outputs/replaced/ is git-ignored.
REPLACED_DIR = ("replaced", "model_hub")


def publish_best_seed(run_dirs, dest: str | Path, *, title: str, summary: str = "", log=print) -> Path:
    """Publish the seed with the best **val** accuracy (float32, ties: :func:`selection_key`) among ``run_dirs`` (one model and recipe, several seeds);
    its card also reports every seed and their mean ± std, and ``seeds.json`` lists them."""
    run_dirs = [Path(d) for d in run_dirs]
    if not run_dirs:
        raise DataError(None, "no runs to publish", "pass the run folders of a model's seeds")
    records = {d: published_record(d) for d in run_dirs}
    kinds = {(r.model, r.recipe, r.config.get("distill_teacher")) for r in records.values()}
    seeds = [r.seed for r in records.values()]
    if len(kinds) > 1 or len(set(seeds)) != len(seeds):
        raise DataError(None, f"the runs are not one model and recipe over distinct seeds ({sorted(kinds, key=str)}, "
                        f"seeds {seeds})", "pass the seeds of one model trained one way")
    best = max(run_dirs, key=lambda d: selection_key(records[d]))
    return publish_run(best, dest, title=title, summary=summary, seed_runs=run_dirs, log=log)


def published_record(run_dir: str | Path):
    """The run record of ``run_dir``, refused in one line when it has no test evaluation (the card's and
    ``seeds.json``'s test numbers would fail halfway through publishing)."""
    from charclf.eval.record import RunRecord

    run_dir = Path(run_dir)
    record = RunRecord.load(run_dir)
    if record.test_key not in record.evaluation:
        raise DataError(run_dir / "metrics.json", f"has no {record.test_key!r} evaluation (it has "
                        f"{sorted(record.evaluation)}), so the card has no test number for it",
                        f"score it with charclf evaluate {run_dir}, then publish again")
    return record


def check_trained_alike(records: dict) -> None:
    """Refuse seeds that were not trained one way: their mean ± std would average different experiments under
    one recipe name. Each record (``{run folder: RunRecord}``) must equal the first on its training config (but
    for the seed and ``RUN_PLACE_FIELDS``, which say where a run trained, not what it computed; a field newer than
    a record counts as its default there) and on its data facts (split, protocol, index file, part sizes)."""
    from charclf.data.protocols import with_recorded_index
    from charclf.train.config import RUN_PLACE_FIELDS, dict_differences, with_new_fields

    (first, ref), *rest = records.items()
    for run_dir, record in rest:
        # A record from before the index file was recorded was made with the shipped one (with_recorded_index).
        data = dict_differences(with_recorded_index(record.data, ref.data), with_recorded_index(ref.data, record.data))
        # config_differences' comparison, with both sides filled (either may be the older) and the seed left out.
        config = dict_differences(with_new_fields(ref.config), with_new_fields(record.config),
                                  ignore=RUN_PLACE_FIELDS | {"seed"})
        differences = "; ".join(f"{what} {diff}" for what, diff in (("config", config), ("data", data)) if diff)
        if differences:
            raise DataError(Path(run_dir) / "metrics.json", f"was trained otherwise than "
                            f"{repo_relative(Path(first) / 'metrics.json')} ({differences}), so their seeds cannot "
                            "be averaged into one mean ± std",
                            "publish only seeds trained with one config on one split and protocol: retrain this one "
                            "with the others' train_config.json (and its own --seed), or leave it out")


def selection_key(record) -> tuple:
    """How the best seed is chosen: float32 val accuracy; between equal accuracies (two seeds can get the same
    number of the 11,634 val images right), the lower float32 val calibration error, then the lower seed."""
    val = record.part("val") or {}
    return record.val_acc, -float(val.get("ece", 0.0)), -(record.seed or 0)


def seed_rows(run_dirs) -> dict:
    """Each seed's val and test accuracy, and their mean and sample std (``seed_stats``; None for one seed)."""
    import pandas as pd

    from charclf.eval.seeds import seed_stats

    records = {Path(d): published_record(d) for d in run_dirs}
    check_trained_alike(records)  # a mean ± std over seeds is one experiment's, never a mix
    seeds = [{"run": repo_relative(d), "seed": r.seed, "val_acc": r.val_acc, "test_acc": r.test_acc, "tta": r.tta}
             for d, r in records.items()]
    stats = seed_stats(pd.DataFrame(seeds).assign(model="")).iloc[0]
    out = {"seeds": seeds, "n": len(seeds)}
    for key, column in (("val_acc", "val"), ("test_acc", "test")):
        out[f"{key}_mean"] = float(stats[f"{column}_mean"])
        out[f"{key}_std"] = None if pd.isna(stats[f"{column}_std"]) else float(stats[f"{column}_std"])
    return out


def publish_run(run_dir: str | Path, dest: str | Path, *, title: str, summary: str = "", seed_runs=None,
                log=print) -> Path:
    """Publish a run's model files into ``dest`` with ``dest/README.md`` (the model card); with ``seed_runs`` (the
    same recipe's runs over seeds, this one among them) also ``dest/seeds.json``.

    All or nothing: every check runs and the new folder is assembled beside ``dest`` before ``dest`` is touched,
    then swapped in by renames, so a failure (or Ctrl-C) leaves the earlier model whole, and the new folder holds
    none of the earlier model's files (its train_config.json, history.csv or seeds.json never outlive it). The
    earlier folder is moved to ``<outputs>/replaced/model_hub/`` (:data:`REPLACED_DIR`), not deleted."""
    run_dir, dest = Path(run_dir), Path(dest)
    missing = [f for f in PUBLISHED_FILES[:3] if not (run_dir / f).exists()]
    if missing:
        raise DataError(run_dir, f"is missing {missing}", "publish a finished run folder (charclf train ... --out DIR)")
    from charclf.class_prior import COUNTS_KEY
    from charclf.fileio import atomic_write_text, write_failure, write_json
    from charclf.models.hub import read_model_config

    if read_model_config(run_dir).get(COUNTS_KEY) is None:  # predict would silently keep EMNIST's frequencies
        raise DataError(run_dir / "config.json", f"has no {COUNTS_KEY!r}, which predict divides out for a person's "
                        "handwriting", f"python tools/add_class_counts.py {run_dir} --write, then publish again")
    published_record(run_dir)
    seeds = None if seed_runs is None else {**seed_rows(seed_runs), "published": repo_relative(run_dir),
                                            "chosen_on": "best val accuracy"}
    if dest.exists() and not dest.is_dir():
        raise DataError(dest, "is a file, not a model folder", "publish into a folder (e.g. model_hub/<name>)")
    dest.parent.mkdir(parents=True, exist_ok=True)
    # Beside dest, so the final rename stays on one file system; hidden, so nothing lists it as a model.
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.publishing-", dir=dest.parent))
    try:
        os.chmod(staging, _folder_mode(dest))  # mkdtemp's 0700 would make the published folder private
        for name in PUBLISHED_FILES:
            if (run_dir / name).exists():
                shutil.copy2(run_dir / name, staging / name)
        if seeds is not None:
            write_json(staging / "seeds.json", seeds)
        atomic_write_text(staging / "README.md", model_card(staging, title=title, summary=summary, source=run_dir,
                                                            shown_as=dest))
        kept = _swap_in(staging, dest)
    except BaseException as err:
        shutil.rmtree(staging, ignore_errors=True)  # what this call assembled; dest is as it was
        failure = write_failure(dest, err) if isinstance(err, Exception) else None
        if failure is not None:
            raise failure from err
        raise
    if kept is not None:
        _put_away(kept, dest, log)
    return dest


def _folder_mode(dest: Path) -> int:
    """The permission bits the published folder gets: the replaced folder's, else 0o777 less the umask."""
    try:
        return dest.stat().st_mode & 0o777
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o777 & ~mask


def _swap_in(staging: Path, dest: Path) -> Path | None:
    """Rename ``staging`` to ``dest``; an existing ``dest`` is first renamed aside (``kept_aside_path``) and renamed
    back if the swap fails. Returns where the earlier folder now is (None: there was none, or it was empty)."""
    from charclf.fileio import kept_aside_path, utc_stamp

    if not dest.exists():
        os.rename(staging, dest)
        return None
    kept = kept_aside_path(dest, utc_stamp())
    try:
        os.rename(dest, kept)
        os.rename(staging, dest)
    except BaseException:
        if kept.exists() and not dest.exists():
            os.rename(kept, dest)  # the earlier model back in its place, whole
        raise
    if not any(kept.iterdir()):  # an empty folder held no results: nothing to keep
        kept.rmdir()
        return None
    return kept


def _put_away(kept: Path, dest: Path, log) -> None:
    """Move the replaced model folder from beside ``dest`` (where a model_hub listing would show it) to
    ``<outputs>/replaced/model_hub/<name>-<time>``, and say where; if that move fails it stays beside ``dest``."""
    from charclf.errors import WriteError
    from charclf.fileio import move_aside
    from charclf.paths import outputs_dir

    place = outputs_dir().joinpath(*REPLACED_DIR, dest.name)
    try:
        target = move_aside(kept, place)
    except WriteError as err:  # copied whole under replaced/, but what is left beside dest could not be removed
        log(f"{dest}: published; {err}")
        return
    except OSError as err:
        log(f"{dest}: published; the model it replaced stays at {kept} (could not move it under {place.parent}: "
            f"{err.strerror or err}). Move or delete it yourself")
        return
    log(f"{dest}: published; moved the model it replaced to {target} (delete it yourself once you no longer need "
        "it)")


def augment_words(aug: dict) -> str:
    """A TrainConfig's ``augment`` block in words, naming only what the run used (crop, rotation, affine, mixing):
    a card that listed the affine fields alone would say "none" of Mini-Vision's crop + rotation."""
    parts = []
    if aug.get("crop_padding"):
        parts.append(f"random crop (padding {aug['crop_padding']})")
    if aug.get("rotation"):
        parts.append(f"rotation ±{aug['rotation']:g}°")
    scale = aug.get("scale") or [1.0, 1.0]
    affine = aug.get("degrees") or aug.get("translate") or aug.get("shear") or list(scale) != [1.0, 1.0]
    if affine:
        parts.append(f"affine ±{aug.get('degrees', 0):g}° / translate {aug.get('translate', 0):g} / scale "
                     f"{list(scale)} / shear {aug.get('shear', 0):g}")
    if (affine or aug.get("rotation")) and aug.get("interpolation") == "nearest":  # a crop alone never resamples
        parts.append("nearest resampling")
    mixing = [f"{label} α {aug[key]:g}" for key, label in (("mixup_alpha", "MixUp"), ("cutmix_alpha", "CutMix"))
              if aug.get(key)]
    if mixing:
        parts.append(", ".join(mixing) + f" (p {aug.get('mix_prob', 1.0):g})")
    return ", ".join(parts) or "none"


def model_card(model_dir: str | Path, *, title: str, summary: str = "", source: str | Path | None = None,
               shown_as: str | Path | None = None) -> str:
    """Markdown model card built from ``config.json``, ``metrics.json`` and ``train_config.json`` in ``model_dir``;
    ``shown_as``: the folder the card's commands name, when the card is written before the files reach it."""
    from charclf.eval.record import RunRecord

    model_dir = Path(model_dir)
    from charclf.provenance import read_json

    config = read_json(model_dir / "config.json", "publish the model again, or restore the folder with git")
    record = RunRecord.load(model_dir)
    train_cfg = record.config
    machine = record.provenance.get("machine", {})
    data = record.data
    sizes = data.get("sizes", {})
    evals = record.evaluation

    rows = [("val accuracy (model selection, float32)", record.val_acc),
            (f"test accuracy{' (TTA)' if record.tta else ''}", record.test_acc)]
    for key, label in (("test", "test"), ("test_tta", "test, TTA (translations)")):
        ev = evals.get(key)
        if ev:
            rows += [(f"{label}: accuracy", ev.get("accuracy")),
                     (f"{label}: merged-47 accuracy", ev.get("merged47_accuracy")),
                     (f"{label}: weighted F1", ev.get("f1_weighted")),
                     (f"{label}: macro F1", ev.get("f1_macro")),
                     (f"{label}: ECE (15 bins)", ev.get("ece"))]
    # The folder as a reader of the card would type it: relative as given, else just its name. The reproduce
    # command points at the train_config.json copied *into* this folder (the run folder it came from is
    # usually not committed); the data folder is the user's own ($CHARCLF_DATA_DIR or ./data).
    named = Path(shown_as) if shown_as is not None else model_dir
    shown = named.as_posix() if not named.is_absolute() else repo_relative(named)
    if Path(shown).is_absolute():  # outside the repository: the folder's name is all a reader can use
        shown = named.name
    trained_from = f"\n\nPublished from the run folder `{repo_relative(source)}`." if source else ""
    table = "\n".join(f"| {name} | {value:.4f} |" for name, value in rows if value is not None)
    seeds_section = ""
    if (model_dir / "seeds.json").is_file():
        seeds = read_json(model_dir / "seeds.json", "publish the model again, or restore the folder with git")

        def pm(key: str) -> str:
            std = seeds[f"{key}_std"]
            return f"{seeds[f'{key}_mean']:.4f}" + (f" ± {std:.4f}" if std is not None else "")

        lines = "\n".join(f"| {s['seed']} | {s['val_acc']:.4f} | {s['test_acc']:.4f} |" for s in seeds["seeds"])
        seeds_section = f"""
## Across seeds

The same recipe over {seeds['n']} seeds (`seeds.json`); these weights are the seed with the best val accuracy
(between equal accuracies: the lower val calibration error, then the lower seed).

| seed | val accuracy | test accuracy{' (TTA)' if record.tta else ''} |
|---|---|---|
{lines}
| **mean ± std** | **{pm('val_acc')}** | **{pm('test_acc')}** |
"""
    precision = {"bf16": "bf16 autocast", "fp32": "float32", "mixed": "bf16 and float32 epochs (history.csv says which)"
                 }.get(record.precision, record.precision)
    # Which numerics chose these weights (the per-epoch val score) and scored them (test: always float32).
    selected_in = {"fp32": "float32", None: f"{precision} (the training precision: runs before val was scored in "
                   "float32)"}.get(record.selection_precision, record.selection_precision)
    # The CPU and the flags that decide bf16 (recorded by runs since provenance has them; older ones lack them).
    flags = ", ".join(machine.get("cpu_flags") or [])
    cpu = (f" on {machine['cpu_model']}" + (f" ({flags})" if flags else "")) if machine.get("cpu_model") else ""
    opt, sched, aug = train_cfg.get("optimizer", {}), train_cfg.get("scheduler", {}), train_cfg.get("augment", {})
    from charclf.class_prior import COUNTS_KEY

    prior_words = ("`charclf predict` and the demo divide out how often each character appears in these training "
                   f"images (`{COUNTS_KEY}` in `config.json`): every character is then equally likely, as in a "
                   "person's handwriting. `--prior train` gives the model's raw answers, for EMNIST-like data."
                   if config.get(COUNTS_KEY) else "")
    return f"""# {title}

{summary}

| | |
|---|---|
| architecture | `{config['architecture']}` (`charclf.create_model("{config['architecture']}", num_classes={config['num_classes']})`) |
| parameters | {record.params:,} |
| MACs per 28×28 image | {record.macs:,} |
| classes | {config['num_classes']}: `{''.join(config['labels'])}` |
| input | 28×28 grey, upright, white ink on black, `(x/255 - {config['mean']:.4f}) / {config['std']:.4f}` |
| data | EMNIST **{data.get('split', '?')}**, **{data.get('protocol', config.get('protocol'))} protocol** (train {sizes.get('train', '?'):,} / val {sizes.get('val', '?'):,} / test {sizes.get('test', '?'):,}) |
| trained on | {machine.get('device', '?')} ({machine.get('cpu_count', '?')} cores{', ' + machine['gpu'] if machine.get('gpu') else ''}), torch {machine.get('torch', '?')}, {precision}, {record.train_time_s:.0f} s of training |
| recipe | {train_cfg.get('epochs', '?')} epochs, batch {train_cfg.get('batch_size', '?')}, {opt.get('name', '?')} lr {opt.get('lr', '?')} wd {opt.get('weight_decay', '?')}, {sched.get('name', '?')} schedule, loss {train_cfg.get('loss', '?')} (label smoothing {train_cfg.get('label_smoothing', 0)}), EMA {train_cfg.get('ema_decay')}, augmentation: {augment_words(aug)} |
| precision | trained in {precision}{cpu}; the per-epoch val that chose these weights scored in {selected_in}; test scored in float32 |
| seed | {record.seed} |
| git SHA of the training code | `{record.git_sha or config.get('git_sha', '?')}` |

## Results ({data.get('protocol', '?')} protocol)

| metric | value |
|---|---|
{table}

{seeds_section}
All numbers come from `metrics.json` in this folder (the run record `charclf.train.fit` wrote; every test
number is one float32 evaluation of these weights).
The holdout protocol re-splits the official ByClass **test** file (the only ByClass file available offline);
it is not comparable with numbers on the official ByClass test split.

## Use

```python
import charclf
model = charclf.load_model("{shown}")
```
```bash
charclf predict my_char.png --model {shown}
```
{prior_words}

## Limits

- Upper/lower-case pairs that look alike (c/C, o/O/0, l/1/I, s/S, ...) are the main errors; the merged-47
  accuracy folds the 15 case-ambiguous letters.
- Trained on EMNIST's writers and scanning conditions; other handwriting may score lower.

## Reproduce

```bash
charclf train --config {shown}/train_config.json --out <run_dir>
charclf evaluate <run_dir>
```{trained_from}
"""
