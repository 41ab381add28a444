"""Publishing a trained run into ``model_hub/<name>/`` with a model card written from its own artifacts.

The card's numbers are read from the run's ``metrics.json`` — never typed by hand — so every number in it
traces back to what the training and evaluation code measured.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from charclf.errors import DataError

PUBLISHED_FILES = ("model.safetensors", "config.json", "metrics.json", "train_config.json", "history.csv")


def publish_run(run_dir: str | Path, dest: str | Path, *, title: str, summary: str = "") -> Path:
    """Copy a run's model files into ``dest`` and write ``dest/README.md`` (the model card)."""
    run_dir, dest = Path(run_dir), Path(dest)
    missing = [f for f in PUBLISHED_FILES[:3] if not (run_dir / f).exists()]
    if missing:
        raise DataError(run_dir, f"is missing {missing}", "publish a finished run folder (charclf train ... --out DIR)")
    dest.mkdir(parents=True, exist_ok=True)
    for name in PUBLISHED_FILES:
        if (run_dir / name).exists():
            shutil.copy2(run_dir / name, dest / name)
    (dest / "README.md").write_text(model_card(dest, title=title, summary=summary, source=run_dir))
    return dest


def model_card(model_dir: str | Path, *, title: str, summary: str = "", source: str | Path | None = None) -> str:
    """Markdown model card built from ``config.json``, ``metrics.json`` and ``train_config.json``."""
    from charclf.eval.record import RunRecord

    model_dir = Path(model_dir)
    config = json.loads((model_dir / "config.json").read_text())
    record = RunRecord.load(model_dir)
    train_cfg = record.config
    machine = record.provenance.get("machine", {})
    data = record.data
    sizes = data.get("sizes", {})
    evals = record.evaluation

    rows = [("val accuracy (model selection)", record.best_val_acc),
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
    shown = model_dir.as_posix() if not model_dir.is_absolute() else model_dir.name
    trained_from = f"\n\nPublished from the run folder `{Path(source).as_posix()}`." if source else ""
    table = "\n".join(f"| {name} | {value:.4f} |" for name, value in rows if value is not None)
    precision = {"bf16": "bf16 autocast", "fp32": "float32"}[record.precision]
    opt, sched, aug = train_cfg.get("optimizer", {}), train_cfg.get("scheduler", {}), train_cfg.get("augment", {})
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
| recipe | {train_cfg.get('epochs', '?')} epochs, batch {train_cfg.get('batch_size', '?')}, {opt.get('name', '?')} lr {opt.get('lr', '?')} wd {opt.get('weight_decay', '?')}, {sched.get('name', '?')} schedule, loss {train_cfg.get('loss', '?')} (label smoothing {train_cfg.get('label_smoothing', 0)}), EMA {train_cfg.get('ema_decay')}, affine ±{aug.get('degrees', 0)}° / translate {aug.get('translate', 0)} / scale {aug.get('scale')} / shear {aug.get('shear', 0)} |
| seed | {record.seed} |
| git SHA of the training code | `{record.git_sha or config.get('git_sha', '?')}` |

## Results ({data.get('protocol', '?')} protocol)

| metric | value |
|---|---|
{table}

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
