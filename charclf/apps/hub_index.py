"""model_hub/README.md's table of the shipped models, built from each folder's own files (never typed by hand:
a hand-kept table went stale when `small` was republished). ``tools/write_readme.py`` writes it between the
``<!-- HUB:START -->`` / ``<!-- HUB:END -->`` markers, and its ``--check`` (run by the tests) fails while it is
stale."""
from __future__ import annotations

import json
from pathlib import Path

from charclf.errors import DataError

FIX = "publish the folder again (charclf publish --write), or restore it with git"


def _title(folder: Path) -> str:
    """The model card's first heading (``# ...``), the card's own one-line description of the model."""
    card = folder / "README.md"
    if not card.is_file():
        raise DataError(card, "the model card is missing", FIX)
    for line in card.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    raise DataError(card, "has no '# ' heading to describe the model by", FIX)


def _seeds_words(folder: Path) -> str:
    """``" (3 seeds: 86.86% ± 0.03%)"`` from ``seeds.json`` (the published seed's siblings); "" without one."""
    path = folder / "seeds.json"
    if not path.is_file():
        return ""
    try:
        seeds = json.loads(path.read_text())
        return f" ({seeds['n']} seeds: {seeds['test_acc_mean']:.2%} ± {seeds['test_acc_std']:.2%})"
    except (ValueError, KeyError, TypeError) as err:
        raise DataError(path, f"is not a readable seeds summary ({type(err).__name__})", FIX) from None


def hub_rows(hub: Path) -> list[dict]:
    """One row per model folder of ``hub`` (a folder with ``model.safetensors``), largest model first."""
    from charclf.eval.record import RunRecord
    from charclf.provenance import machine_words

    rows = []
    for folder in sorted(p for p in Path(hub).iterdir() if (p / "model.safetensors").is_file()):
        record = RunRecord.load(folder)
        machine = record.provenance.get("machine", {})
        cores = machine.get("cpu_count")
        tta = " with TTA" if record.tta else ""
        rows.append({"folder": folder.name, "model": record.model, "what": _title(folder), "params": record.params,
                     "val": f"{record.val_acc:.2%}", "test": f"{record.test_acc:.2%}{tta}{_seeds_words(folder)}",
                     "precision": f"{record.precision} / val {record.val_precision}",
                     "trained on": machine_words(machine) + (f", {cores} cores" if cores else ""),
                     "protocol": record.data.get("protocol", "unrecorded")})
    return sorted(rows, key=lambda r: -r["params"])


def hub_index_markdown(hub: Path) -> str:
    """The table of :func:`hub_rows` as markdown."""
    lines = ["| folder | model | what it is (its card's title) | params | val acc | test acc | precision (train / val) "
             "| protocol | trained on |", "|---|---|---|---:|---:|---:|---|---|---|"]
    lines += [f"| `{r['folder']}` | `{r['model']}` | {r['what']} | {r['params']:,} | {r['val']} | {r['test']} | "
              f"{r['precision']} | {r['protocol']} | {r['trained on']} |" for r in hub_rows(hub)]
    return "\n".join(lines)
