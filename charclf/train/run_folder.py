"""A run folder on disk: the files ``fit`` writes there (the layout is in ``charclf.train.engine``'s docstring),
the guards that keep training from destroying anything else in it, and the writes of each epoch."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable

import pandas as pd
from torch import nn

from charclf.errors import ConfigError, TrainingError
from charclf.eval.record import RECORD_FILE
from charclf.fileio import write_csv  # noqa: F401  (engine writes its CSVs through this module)
from charclf.models.hub import save_pretrained, save_weights
from charclf.train import checkpoint
from charclf.train.config import TrainConfig

# val_acc is scored in float32 whatever the training precision; "precision" is what the epoch's steps ran in.
HISTORY_COLUMNS = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "epoch_time_s", "images_per_s",
                   "precision"]
NUMERIC_HISTORY_COLUMNS = HISTORY_COLUMNS[1:-1]
# What fit writes into a run folder, and nothing else: --overwrite removes only these.
RUN_FILES = ("model.safetensors", "config.json", "train_config.json", "history.csv", "last.safetensors",
             checkpoint.RESUME_NAME, "metrics.json",
             *(f"confusion_{part}{tta}.csv" for part in ("train", "val", "test") for tta in ("", "_tta")))
RESULT_FILES = ("model.safetensors", "config.json", "metrics.json", "history.csv", "last.safetensors")
TB_DIR = "tb"


def check_out_dir(out: Path, resume: bool, overwrite: bool) -> None:
    """Refuse any output folder whose contents training could destroy (read-only check, before any work).

    - a new or empty folder is always fine;
    - ``resume`` needs the run's resume.pt; without it, only a run killed before its first epoch (nothing but
      train_config.json / tb/) may start afresh — a folder holding results is refused, never retrained over;
    - ``overwrite`` removes only the files ``fit`` writes (``RUN_FILES``), and refuses a folder holding
      anything else (a model card, notes, another tool's files), naming it;
    - anything else non-empty is refused.
    """
    out = Path(out)
    if resume and overwrite:
        raise ConfigError("resume=True and overwrite=True contradict each other. Fix: pass only one of them")
    if out.exists() and not out.is_dir():
        raise TrainingError(f"{out}: exists and is not a folder. Fix: choose another output folder")
    entries = sorted(out.iterdir()) if out.exists() else []
    if not entries:
        return
    foreign = [p.name for p in entries if not is_run_entry(p)]
    if resume:
        if (out / checkpoint.RESUME_NAME).is_file():
            return
        results = [p.name for p in entries if p.name in RESULT_FILES]
        if results:
            raise TrainingError(f"{out}: holds a trained run ({', '.join(results)}) but no "
                                f"{checkpoint.RESUME_NAME}, so there is nothing to resume and --resume would "
                                f"train from scratch over it. Fix: train into a new --out folder (or, to replace "
                                f"this run, pass --overwrite instead of --resume)")
        if foreign:
            raise TrainingError(f"{out}: has no {checkpoint.RESUME_NAME} to resume and holds files charclf did not "
                                f"write ({', '.join(foreign[:5])}). Fix: choose an empty or new --out folder")
        return  # killed before its first epoch: nothing to lose, fit starts afresh (with a note)
    if not overwrite:
        raise TrainingError(f"{out}: the output folder exists and is not empty. Fix: pass --resume to continue "
                            f"that run, --overwrite to replace it, or choose another --out folder")
    if foreign:
        raise TrainingError(f"{out}: --overwrite deletes only the files charclf train writes, and this folder also "
                            f"holds {', '.join(foreign[:5])}{' ...' if len(foreign) > 5 else ''}. Fix: move "
                            f"those elsewhere first, or choose an empty or new --out folder")
    if "train_config.json" not in {p.name for p in entries}:
        raise TrainingError(f"{out}: --overwrite would delete a folder that does not look like a charclf run "
                            f"(no train_config.json inside). Fix: choose an empty or new --out folder")


def is_run_entry(path: Path) -> bool:
    """Whether ``path`` (an entry of a run folder) is something ``fit`` writes: a run file, the temporary file
    of one (left by a kill mid-write), or tb/ holding only TensorBoard event files."""
    name = path.name
    if path.is_dir() and not path.is_symlink():
        return name == TB_DIR and all(p.is_file() and p.name.startswith("events.out.tfevents.")
                                      for p in path.iterdir())
    if not path.is_file() or path.is_symlink():
        return False
    # charclf.fileio writes ".<name>.<random>.tmp" beside its target (torch and safetensors too).
    return name in RUN_FILES or (name.endswith(".tmp") and any(name.startswith(f".{f}.") for f in RUN_FILES))


def clear_run_dir(out: Path, note: Callable[[str], None]) -> list[str]:
    """Remove the run files of ``out`` for --overwrite, saying what goes; re-checks first (the folder may have
    changed since check_out_dir), so nothing charclf did not write is ever deleted. Returns the names removed."""
    check_out_dir(out, resume=False, overwrite=True)
    entries = sorted(out.iterdir()) if out.exists() else []
    if entries:
        note(f"--overwrite: removing {', '.join(p.name + ('/' if p.is_dir() else '') for p in entries)} from {out}")
    for path in entries:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    return [p.name for p in entries]


def prepare(out: Path, config: TrainConfig, *, overwrite: bool, purge_step: int, note: Callable[[str], None]):
    """Make ``out`` ready for the first epoch to come: cleared for --overwrite, created, holding
    train_config.json. Returns a TensorBoard writer that drops the events logged from ``purge_step`` on (an
    earlier try's epochs after the resumed checkpoint), or None without tensorboard."""
    if overwrite:
        clear_run_dir(out, note)
    out.mkdir(parents=True, exist_ok=True)
    config.to_json(out / "train_config.json")
    return _open_tensorboard(out, purge_step=purge_step)


def _open_tensorboard(out: Path, purge_step: int):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional: the CSV history is the record of truth
        return None
    return SummaryWriter(str(out / TB_DIR), purge_step=purge_step)


def save_epoch(out: Path, rows: list[dict], improved: bool, eval_model: nn.Module, model: nn.Module,
               pretrained_kw: dict, writer, resume_state: dict) -> None:
    """Write one epoch's files; resume.pt goes last, so it only ever points at a fully written epoch."""
    if improved:
        save_pretrained(eval_model, out, **pretrained_kw)
    save_weights(model, out / "last.safetensors")
    write_csv(pd.DataFrame(rows, columns=HISTORY_COLUMNS), out / "history.csv")
    if writer is not None:
        row = rows[-1]
        for key in NUMERIC_HISTORY_COLUMNS:
            writer.add_scalar(key, row[key], row["epoch"])
        writer.flush()
    checkpoint.save_resume(out / checkpoint.RESUME_NAME, resume_state)


# -- finished or resumable ------------------------------------------------------------------------------
RUN_MARKERS = (RECORD_FILE, "history.csv")  # a run folder holding both finished training


def is_finished_run(run_dir: str | Path) -> bool:
    return all((Path(run_dir) / name).is_file() for name in RUN_MARKERS)


RESUME_ONLY = ("resume.pt", "last.safetensors", "tb")  # only needed to continue an unfinished run


def resumable(run_dir: str | Path) -> bool:
    """An unfinished run folder that ``fit(..., resume=True)`` can continue (it holds a resume state)."""
    return not is_finished_run(run_dir) and (Path(run_dir) / "resume.pt").is_file()


def prune_run(run_dir: str | Path) -> None:
    """Drop what only resuming needs from a *finished* run (optimizer state, last-epoch weights, TensorBoard
    logs), keeping weights, config, metrics and history: cached runs stay small enough to commit."""
    for name in RESUME_ONLY:
        path = Path(run_dir) / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
