"""A search's results: the Optuna study with what its trials mean, its trials as a table, and its summary
(``search.json``, ``trials.csv``: the files notebook 05 renders)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from charclf.experiments.tune.sampler import retried_trial_number
from charclf.experiments.tune.space import SearchSpace
from charclf.experiments.tune.storage import safe_url
from charclf.train.config import TrainConfig

FINISHED_STATES = ("COMPLETE", "PRUNED")
WORKER_ATTR = "worker"
COPIED_ATTR = "copied_from"  # a trial copied from another search (copy_startup_trials): "<study name>#<number>"
REPEAT_ATTR = "repeat_of"  # a trial that drew an earlier trial's parameters and took its result (reuse_repeats)
SUMMARY_COUNTS = ("finished", "complete", "pruned", "best_trial")


@dataclass
class SearchResult:
    """A finished (or joined) search: the Optuna study plus what its trials mean."""

    study: Any
    space: SearchSpace
    n_trials: int
    model_name: str
    base_config: TrainConfig
    storage_url: str
    out_dir: Path | None = None
    spec: dict = field(default_factory=dict)
    # The caller's base config's max_train_samples (None: all of train), before the search's own subset, which is
    # for the short trials only: best_config() trains the best setting on this.
    caller_max_train_samples: int | None = None

    def trials_dataframe(self, all_states: bool = False):
        """One row per trial: number, state, val_loss (the objective), each parameter, val accuracy, worker,
        retry_of, copied_from, repeat_of, diverged, duration. Finished trials only unless ``all_states``."""
        return trials_dataframe(self.study, self.space, all_states=all_states)

    @property
    def best_trial(self):
        return self.study.best_trial

    @property
    def best_params(self) -> dict:
        return dict(self.study.best_trial.params)

    @property
    def best_value(self) -> float:
        return float(self.study.best_value)

    def best_config(self, **overrides) -> TrainConfig:
        """The base config with the best parameters (and ``overrides``) applied — ready for a full training: on
        the training set the caller's base config asked for, not on the trials' ``max_train_samples`` subset."""
        from charclf.train.recipes import override_config

        return override_config(self.base_config, {**self.space.config_overrides(self.best_params),
                                                  "model": self.model_name,
                                                  "max_train_samples": self.caller_max_train_samples, **overrides},
                               source="best search parameters")

    def plot(self):
        from charclf.eval.figures import plot_search

        return plot_search(self.trials_dataframe())

    def summary(self) -> dict:
        df = self.trials_dataframe()
        complete = (df.state == "COMPLETE").any()
        return {"study_name": self.study.study_name, "storage": safe_url(self.storage_url),
                "n_trials": self.n_trials, "finished": int(len(df)),
                "complete": int((df.state == "COMPLETE").sum()), "pruned": int((df.state == "PRUNED").sum()),
                "best_trial": int(self.best_trial.number) if complete else None,
                "best_params": self.best_params if complete else None,
                "best_val_loss": self.best_value if complete else None,
                "selection": "lowest validation loss (test part never used)", "spec": self.spec}


def trials_dataframe(study, space: SearchSpace | None = None, *, all_states: bool = False):
    """The trials of ``study`` as a table (see :meth:`SearchResult.trials_dataframe`), sorted by number;
    ``df.attrs["params"]`` names the parameter columns."""
    import pandas as pd

    trials = study.get_trials(deepcopy=False)
    names = space.names if space is not None else sorted({k for t in trials for k in t.params})
    rows = []
    for t in trials:
        if not all_states and t.state.name not in FINISHED_STATES:
            continue
        duration = (t.datetime_complete - t.datetime_start).total_seconds() \
            if t.datetime_complete and t.datetime_start else None
        row = {"number": t.number, "state": t.state.name, "val_loss": t.value}
        row.update({k: t.params.get(k) for k in names})
        row.update({"best_val_acc": t.user_attrs.get("best_val_acc"),
                    "epochs": len(t.user_attrs.get("val_loss_per_epoch", []) or []),
                    "diverged": bool(t.user_attrs.get("diverged", False)),
                    "retry_of": retried_trial_number(t), "worker": t.user_attrs.get(WORKER_ATTR),
                    "duration_s": duration, "copied_from": t.user_attrs.get(COPIED_ATTR),
                    "repeat_of": t.user_attrs.get(REPEAT_ATTR)})
        rows.append(row)
    df = pd.DataFrame(rows, columns=["number", "state", "val_loss", *names, "best_val_acc", "epochs", "diverged",
                                     "retry_of", "worker", "duration_s", "copied_from", "repeat_of"])
    df.attrs["params"] = list(names)
    return df.sort_values("number").reset_index(drop=True)


def trial_line(t) -> str:
    """One progress line for a finished trial: its parameters and val loss (or state)."""
    params = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in t.params.items())
    value = f"val loss {t.value:.4f}" if t.value is not None else t.state.name.lower()
    extra = " (diverged)" if t.user_attrs.get("diverged") else ""
    return f"trial {t.number}: {params} -> {value}{extra}"


def summary_is_stale(out_dir: Path, summary: dict) -> bool:
    """True when ``out_dir``'s search.json or trials.csv is missing or counts other trials than ``summary``."""
    if not (out_dir / "search.json").is_file() or not (out_dir / "trials.csv").is_file():
        return True
    try:
        saved = json.loads((out_dir / "search.json").read_text())
    except (OSError, ValueError):
        return True
    return any(saved.get(key) != summary[key] for key in SUMMARY_COUNTS)
