"""Tiny helpers the study notebooks call, so that the notebooks hold narrative and calls, not library code.

Every notebook starts the same way::

    ctx = setup(SEED, profile=PROFILE, data_dir=DATA_DIR, protocol=PROTOCOL, retrain=RETRAIN)

which prints the versions a reader needs to reproduce a number, seeds every generator, resolves the data
folder and the profile's sizes, and returns a :class:`StudyContext`. Heavy steps go through
:func:`cached_run`: a finished run folder under ``outputs/runs/<profile>/<name>`` is loaded instead of being
retrained, unless ``RETRAIN`` is true or the environment says ``CHARCLF_RETRAIN=1`` (what CI does, so that
the quick profile really trains there).
"""
from __future__ import annotations

import dataclasses
import json
import os
import platform
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from charclf.errors import ConfigError, TrainingError
from charclf.paths import figures_dir, outputs_dir
from charclf.train.record import RECORD_FILE, RunRecord
from charclf.train.engine import seed_everything  # noqa: F401  (one home; notebooks import it from here)

RETRAIN_ENV = "CHARCLF_RETRAIN"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


# -- environment -----------------------------------------------------------------------------------------
def on_colab() -> bool:
    """True inside Google Colab (its runtime preloads the ``google.colab`` module)."""
    return "google.colab" in sys.modules


def retrain_requested(retrain: bool = False) -> bool:
    """``retrain``, unless ``$CHARCLF_RETRAIN`` says otherwise (``1``/``0``): CI forces real training this way,
    because nbmake runs the committed notebooks as they are and cannot inject parameters."""
    env = os.environ.get(RETRAIN_ENV)
    if env is None:
        return bool(retrain)
    value = env.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"${RETRAIN_ENV}={env!r} is not understood. Fix: set it to 1 (retrain) or 0 (use cached runs)")


def versions() -> dict:
    """What a reader needs to reproduce a number: interpreter, libraries, the repo's commit and the device."""
    import numpy as np
    import torch

    import charclf
    from charclf.provenance import git_sha

    info = {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
            "charclf": charclf.__version__, "git_sha": git_sha()}
    try:
        import torchvision

        info["torchvision"] = torchvision.__version__
    except ImportError:  # torchvision is only needed by the EfficientNets
        pass
    if torch.cuda.is_available():
        info["device"] = f"cuda ({torch.cuda.get_device_name(0)})"
    else:
        info["device"] = f"cpu ({os.cpu_count()} cores, {torch.get_num_threads()} torch threads)"
    from charclf.train.precision import precision_name, resolve_amp

    # What TrainConfig(amp="auto") trains in here: bf16 where the hardware has it natively, else float32.
    info["training precision"] = precision_name(resolve_amp("auto", torch.device("cuda" if torch.cuda.is_available()
                                                                                  else "cpu")))
    info["platform"] = platform.platform()
    info["colab"] = on_colab()
    return info


def inline_figures() -> None:
    """In a Jupyter kernel, show figures inline — also ``charclf.viz``'s ``Figure`` objects, which are not
    pyplot's and only render once the inline backend has registered its formatter (even if the environment
    says ``MPLBACKEND=Agg``, as CI does). Outside a kernel this does nothing."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with every Jupyter kernel
        return
    shell = get_ipython()
    if shell is not None and hasattr(shell, "kernel"):
        shell.run_line_magic("matplotlib", "inline")


# -- profiles --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProfileSettings:
    """The sizes of one profile. ``None`` means "all of it" (sizes) or "the recipe's own" (epochs)."""

    name: str
    train_samples: int | None  # stratified subset of the protocol's train part
    val_samples: int | None
    test_samples: int | None
    max_epochs: int | None  # caps every recipe's epochs
    tune_trials: int  # random-search trials (05)
    tune_train_samples: int | None
    tune_epochs: int
    transfer_train_samples: int | None  # MNIST training images (08)
    transfer_epochs: int  # the ByClass study fine-tunes 5 epochs on MNIST
    transfer_seeds: tuple[int, ...]  # each MNIST comparison is repeated per seed (mean +- std)
    efficientnet_train_samples: int | None  # EfficientNet at 112 px is slow on a CPU (09)
    efficientnet_epochs: int | None
    efficientnet_eval_samples: int | None  # val and test images for the EfficientNet runs
    max_mmacs: float | None  # models costing more per image are not trained under this profile (too slow)
    description: str

    def epochs(self, recipe_epochs: int) -> int:
        """The epochs a recipe gets under this profile."""
        return recipe_epochs if self.max_epochs is None else max(1, min(recipe_epochs, self.max_epochs))


PROFILES = {
    # Sized so that all notebooks together execute in about 15 minutes on 2 CPU cores, training for real.
    "quick": ProfileSettings(
        name="quick", train_samples=3000, val_samples=1500, test_samples=1500, max_epochs=2,
        tune_trials=4, tune_train_samples=1500, tune_epochs=1,
        transfer_train_samples=3000, transfer_epochs=2, transfer_seeds=(0,),
        efficientnet_train_samples=600, efficientnet_epochs=1, efficientnet_eval_samples=300,
        max_mmacs=100.0,
        description="a small honest subset on a CPU: stratified 3,000 train / 1,500 val / 1,500 test images, "
                    "at most 2 epochs per recipe, models up to 100 MMACs per image"),
    "full": ProfileSettings(
        name="full", train_samples=None, val_samples=None, test_samples=None, max_epochs=None,
        tune_trials=28, tune_train_samples=20000, tune_epochs=5,
        transfer_train_samples=None, transfer_epochs=5, transfer_seeds=(0, 1, 2),
        efficientnet_train_samples=None, efficientnet_epochs=None, efficientnet_eval_samples=None,
        max_mmacs=None,
        description="the complete protocol, every recipe's own epochs; every model whose recipe fits the machine "
                    "(hours on 2 CPU cores; the heaviest need a GPU)"),
}


def profile_settings(profile: str) -> ProfileSettings:
    """The quick or full profile's sizes (see :data:`PROFILES`)."""
    if profile not in PROFILES:
        from charclf.errors import unknown_name

        raise unknown_name("profile", profile, list(PROFILES))
    return PROFILES[profile]


def compress_schedule(scheduler, factor: float):
    """The same learning-rate schedule shape over ``factor`` times the epochs: warm-up, cycle and step lengths
    scale with the run (a 5-epoch warm-up would otherwise fill a whole 2-epoch quick run)."""
    return dataclasses.replace(
        scheduler, warmup_epochs=int(round(scheduler.warmup_epochs * factor)),
        t0=max(1, int(round(scheduler.t0 * factor))), step_size=max(1, int(round(scheduler.step_size * factor))))


# -- cached runs -----------------------------------------------------------------------------------------
RUN_MARKERS = (RECORD_FILE, "history.csv")  # a run folder holding both finished training


def is_finished_run(run_dir: str | Path) -> bool:
    return all((Path(run_dir) / name).is_file() for name in RUN_MARKERS)


@dataclass(frozen=True)
class Run:
    """A finished run folder: what training wrote (metrics, history, config) and how to get its model."""

    name: str
    dir: Path
    record: RunRecord  # the run's metrics.json, in its one schema
    history: "object"  # pandas.DataFrame
    cached: bool  # True when loaded from disk instead of trained in this session

    @property
    def config(self) -> dict:
        path = self.dir / "train_config.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def load_model(self, device: str = "cpu"):
        from charclf.hub import load_model

        return load_model(self.dir, device=device)


def load_run(run_dir: str | Path, *, name: str | None = None, cached: bool = True) -> Run:
    import pandas as pd

    run_dir = Path(run_dir)
    if not is_finished_run(run_dir):
        missing = [m for m in RUN_MARKERS if not (run_dir / m).is_file()]
        raise TrainingError(f"{run_dir}: not a finished run (missing {', '.join(missing)}). "
                            "Fix: retrain it (RETRAIN = True or CHARCLF_RETRAIN=1)")
    return Run(name=name or run_dir.name, dir=run_dir, record=RunRecord.load(run_dir),
               history=pd.read_csv(run_dir / "history.csv"), cached=cached)


def cached_run(name: str, profile: str, build_fn: Callable[[Path], object], retrain: bool = False, *,
               runs_root: str | Path | None = None) -> Run:
    """Load the finished run ``outputs/runs/<profile>/<name>``, or build it with ``build_fn(run_dir)``.

    ``build_fn`` trains into the folder it is given (typically ``fit(model, data, cfg, run_dir)``). A folder
    that was killed mid-way with a resume state (``resume.pt``) is handed to ``build_fn`` as it is, which
    resumes it (``fit`` refuses a resume under another config). Any other unfinished folder, or one that is to
    be retrained, is removed first, so a stale metrics.json can never sit beside new weights.
    """
    profile_settings(profile)  # refuse unknown profiles before touching any folder
    retrain = retrain_requested(retrain)
    run_dir = Path(runs_root or outputs_dir() / "runs") / profile / name
    if not retrain and is_finished_run(run_dir):
        run = load_run(run_dir, name=name, cached=True)
        made, sha = run.record.provenance.get("created_utc", "?"), str(run.record.git_sha)[:12]
        print(f"[{name}] loaded the cached run {_display_path(run_dir)} (made {made}, git {sha}); "
              f"set RETRAIN = True or CHARCLF_RETRAIN=1 to train it again")
        return run
    if run_dir.exists() and (retrain or not resumable(run_dir)):
        shutil.rmtree(run_dir)
    elif run_dir.exists():  # a run killed mid-way (session end): continue it exactly where it stopped
        print(f"[{name}] resuming the unfinished run {_display_path(run_dir)}")
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    build_fn(run_dir)
    if not is_finished_run(run_dir):
        raise TrainingError(f"{run_dir}: the build function returned but did not write "
                            f"{' and '.join(RUN_MARKERS)}. Fix: let it train into the folder it is given")
    return load_run(run_dir, name=name, cached=False)


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


def update_record(run_dir: str | Path, **changes) -> RunRecord:
    """Set the study's bookkeeping fields (profile, run, weights_kept) of a run's record, atomically."""
    record = RunRecord.load(run_dir).replace(**changes)
    record.save(run_dir)
    return record


def describe_run(run: Run) -> str:
    """One line: what trained, how long, and its accuracies (val picks the epoch; test is measured once)."""
    r = run.record
    return (f"[{run.name}] {r.model}: {r.epochs_run} epoch(s) on {r.train_samples:,} images, best val acc "
            f"{r.best_val_acc:.2%} (epoch {r.best_epoch}), test acc {r.test_acc:.2%}"
            + (" (TTA)" if r.tta else "") + f", {r.train_time_s:.0f} s" + (" — cached" if run.cached else ""))


def runs_table(runs) -> "object":
    """A DataFrame with one row per run (``{label: Run}`` or a list of runs): size, data, accuracy, speed."""
    import pandas as pd

    items = runs.items() if isinstance(runs, dict) else ((r.name, r) for r in runs)
    rows = []
    for label, run in items:
        r = run.record
        rows.append({"run": label, "model": r.model, "params": r.params, "MMACs": round(r.macs / 1e6, 2),
                     "train images": r.train_samples, "epochs": r.epochs_run,
                     "best val acc": r.best_val_acc, "test acc": r.test_acc, "test TTA": r.tta,
                     "precision": r.precision, "train time (s)": round(r.train_time_s, 1),
                     "s / epoch": round(float(run.history["epoch_time_s"].mean()), 2),
                     "images / s": round(float(r.images_per_s or float("nan")), 0)})
    return pd.DataFrame(rows).set_index("run")


def seed_summary(table) -> "object":
    """Mean and std over seeds of ``runs_table``'s accuracies, one row per model (``n`` = number of seeds);
    std is the sample std (ddof=1), NaN for a single seed."""
    from charclf.report import seed_stats

    stats = seed_stats(table, val="best val acc", test="test acc", seed=None)
    grouped = table.groupby("model")
    out = stats.rename(columns={"val_mean": "val acc mean", "val_std": "val acc std", "test_mean": "test acc mean",
                                "test_std": "test acc std"})
    out["params"] = grouped["params"].first()
    out["train time mean (s)"] = grouped["train time (s)"].mean()
    return out.sort_values("val acc mean", ascending=False)


def generalisation_table(runs) -> "object":
    """The earlier ByClass study's table: accuracy and weighted precision / recall / F1 of the same (chosen)
    weights on the train part and on the test part, per run — from the one evaluation ``fit`` recorded.
    Runs whose train part was not scored are left out."""
    import pandas as pd

    items = runs.items() if isinstance(runs, dict) else ((r.name, r) for r in runs)
    rows = []
    for label, run in items:
        train, test = run.record.part("train"), run.record.part("test")
        if train is None or test is None:
            continue
        row = {"run": label, "model": run.record.model, "TTA": run.record.tta}
        for part, entry in (("train", train), ("test", test)):
            for metric in ("accuracy", "precision_weighted", "recall_weighted", "f1_weighted"):
                row[f"{part} {metric.replace('_weighted', '')}"] = entry[metric]
        row["gap (train - test acc)"] = train["accuracy"] - test["accuracy"]
        rows.append(row)
    return pd.DataFrame(rows).set_index("run") if rows else pd.DataFrame()


def cached_json(name: str, profile: str, build_fn: Callable[[Path], object], retrain: bool = False, *,
                filename: str = "results.json", runs_root: str | Path | None = None) -> dict:
    """Like :func:`cached_run` for experiments that write one results JSON (pre-train -> fine-tune, transfer):
    load ``outputs/runs/<profile>/<name>/<filename>`` when it exists, else build the folder with
    ``build_fn(folder)`` and load what it wrote. An unfinished folder (a killed experiment) is kept and handed
    to ``build_fn``, which must resume its runs (``pretrain_finetune(resume=True)``,
    ``transfer_to_mnist(resume=True)``); it is removed only when retraining."""
    profile_settings(profile)
    retrain = retrain_requested(retrain)
    folder = Path(runs_root or outputs_dir() / "runs") / profile / name
    path = folder / filename
    if not retrain and path.is_file():
        results = json.loads(path.read_text())
        print(f"[{name}] loaded the cached results {_display_path(path)} (made {results.get('created_utc', '?')}, "
              f"git {str(results.get('git_sha', '?'))[:12]}); set RETRAIN = True or CHARCLF_RETRAIN=1 to rerun")
        return results
    if folder.exists() and retrain:
        shutil.rmtree(folder)
    elif folder.exists():  # killed mid-way (session end): build_fn resumes or reuses the runs it finished
        print(f"[{name}] continuing the unfinished experiment {_display_path(folder)}")
    folder.mkdir(parents=True, exist_ok=True)
    build_fn(folder)
    if not path.is_file():
        raise TrainingError(f"{folder}: the build function returned but did not write {filename}. "
                            "Fix: let it write its results into the folder it is given")
    for run_dir in folder.iterdir():  # the experiment's own fit folders: keep what a reader needs
        if run_dir.is_dir() and is_finished_run(run_dir):
            prune_run(run_dir)
    return json.loads(path.read_text())


def _display_path(path: Path) -> str:
    from charclf.provenance import REPO_ROOT

    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


# -- small display and data helpers -------------------------------------------------------------------------
def show_table(table, caption: str, *, max_rows: int | None = 80) -> None:
    """Bold caption + table. Outside IPython (plain python), print both."""
    import pandas as pd

    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display
    except ImportError:  # pragma: no cover - IPython ships with every Jupyter kernel
        get_ipython = None
    if get_ipython is None or get_ipython() is None:
        print(caption)
        print(table.to_string() if hasattr(table, "to_string") else table)
        return
    display(Markdown(f"**{caption}**"))
    with pd.option_context("display.max_rows", max_rows, "display.min_rows", max_rows or 10,
                           "display.max_columns", 40, "display.width", 200):
        display(table)


def official_label_counts(data_dir=None):
    """Class counts of every official EMNIST labels file present in ``data_dir`` (images not needed).

    Returns (counts, missing): a long DataFrame (split, part, label, char, count) and the list of labels files
    that are absent — offline, most of EMNIST's train files are, and the notebook says so instead of failing.
    """
    import numpy as np
    import pandas as pd

    from charclf.data import SPLITS, official_file, resolve_data_dir
    from charclf.data.official import find_file, mapping_info

    root = resolve_data_dir(data_dir)
    rows, missing = [], []
    for split in SPLITS:
        for part in ("train", "test"):
            name = official_file(split, part, "labels")
            found = find_file(name, root)
            if found is None:
                missing.append(name)
                continue
            classes, first, _ = mapping_info(split, root)
            labels = found.read_array(expect_ndim=1).astype(np.int64) - first  # Letters labels start at 1
            counts = np.bincount(labels, minlength=len(classes))
            rows += [dict(split=split, part=part, label=i, char=c, count=int(n))
                     for i, (c, n) in enumerate(zip(classes, counts))]
    return pd.DataFrame(rows, columns=["split", "part", "label", "char", "count"]), missing


# -- the notebook context ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class StudyContext:
    """The resolved parameters of a notebook: profile, protocol, seed, data folder, retrain flag."""

    profile: str
    protocol: str
    seed: int
    data_dir: Path
    retrain: bool
    settings: ProfileSettings
    download: bool = True  # fetch missing official files on first use ($CHARCLF_NO_DOWNLOAD=1: never)

    @property
    def data_dir_label(self) -> str:
        """The data folder as outputs name it: ``$CHARCLF_DATA_DIR`` or relative, never this machine's path."""
        from charclf.data.official import display_data_dir

        return display_data_dir(self.data_dir)

    @property
    def tag(self) -> str:
        """Names profile and protocol; goes into every table caption and figure title."""
        return f"{self.profile} profile, {self.protocol} protocol"

    def title(self, text: str) -> str:
        return f"{text}\n[{self.tag}]"

    def save(self, fig, name: str):
        """Save ``fig`` as ``outputs/figures/<name>_<profile>.png`` and return it (so a cell ending with
        ``ctx.save(...)`` also displays it)."""
        from charclf.viz import savefig

        # Same root as the runs, so CHARCLF_OUTPUTS_DIR (tests, CI) keeps the committed figures untouched.
        directory = figures_dir()
        savefig(fig, f"{name}_{self.profile}", directory=directory)
        return fig

    def show(self, table, title: str, *, max_rows: int | None = 80) -> None:
        """Display a table under a caption that names profile and protocol (plain HTML: no random ids)."""
        show_table(table, f"{title} [{self.tag}]", max_rows=max_rows)

    @property
    def runs_dir(self) -> Path:
        return outputs_dir() / "runs" / self.profile

    def load_data(self, split: str = "byclass", *, protocol: str | None = None, train: int | None | str = "profile",
                  val: int | None | str = "profile", test: int | None | str = "profile"):
        """The split under this notebook's protocol (or ``protocol``), cut to the profile's stratified subsets
        (sizes may be overridden; ``None`` keeps a part whole)."""
        from charclf.data import load_data, stratified_subset

        bundle = load_data(split, protocol or self.protocol, self.data_dir, seed=self.seed, download=self.download)
        sizes = {"train": self.settings.train_samples if train == "profile" else train,
                 "val": self.settings.val_samples if val == "profile" else val,
                 "test": self.settings.test_samples if test == "profile" else test}
        parts = {part: (getattr(bundle, part) if n is None else stratified_subset(getattr(bundle, part), n, self.seed))
                 for part, n in sizes.items()}
        return dataclasses.replace(bundle, **parts)

    def ensure_data(self, split: str = "byclass", protocol: str | None = None) -> None:
        """Download what ``split`` needs under this notebook's protocol if it is missing (and downloads are
        allowed); say what is there, naming the folder without this machine's paths."""
        from charclf.data.download import NO_DOWNLOAD_ENV, ensure_data, missing_files

        protocol = protocol or self.protocol
        missing = missing_files(split, protocol, self.data_dir)
        if missing and self.download:
            ensure_data(split, protocol, self.data_dir)
        elif missing:
            print(f"{len(missing)} file(s) {split} needs are not in {self.data_dir_label} and downloads are off "
                  f"(${NO_DOWNLOAD_ENV}): loading will fail")
            return
        print(f"{split} ({protocol} protocol): the official files are in {self.data_dir_label}")

    def adapt(self, config, **changes):
        """A recipe's TrainConfig under this profile: its epochs capped, this notebook's seed, plus ``changes``.

        Under a profile that caps epochs (quick), an EMA of the weights is switched off — over a few dozen
        steps the average still mostly remembers the random initialisation, which would measure the EMA's
        warm-up, not the recipe — and so is test-time augmentation, which costs 5 evaluations per image.
        """
        changes.setdefault("epochs", self.settings.epochs(config.epochs))
        changes.setdefault("seed", self.seed)
        if self.settings.max_epochs is not None:
            changes.setdefault("ema_decay", None)
            changes.setdefault("tta", False)
        if changes["epochs"] < config.epochs and "scheduler" not in changes:
            changes["scheduler"] = compress_schedule(config.scheduler, changes["epochs"] / config.epochs)
        return dataclasses.replace(config, **changes)

    def skip_reason(self, model_name: str, num_classes: int = 62) -> str | None:
        """Why this profile does not train ``model_name`` (too many MACs per image for it), or None."""
        limit = self.settings.max_mmacs
        if limit is None:
            return None
        from charclf.models import describe_models

        mmacs = float(describe_models(num_classes, names=[model_name])["macs"].iloc[0]) / 1e6
        if mmacs <= limit:
            return None
        return (f"[{model_name}] not trained under the {self.profile} profile: {mmacs:,.0f} MMACs per image is "
                f"over its {limit:,.0f} MMAC limit (a few images per second on 2 CPU cores). "
                f"The full profile trains it.")

    def best_run(self, group: str, metric: str = "best_val_acc") -> Run:
        """The finished run under ``outputs/runs/<profile>/<group>/`` with the highest ``metric`` (validation
        accuracy by default: model selection never looks at test)."""
        root = self.runs_dir / group
        runs = [load_run(d, name=f"{group}/{d.name}") for d in sorted(root.glob("*")) if is_finished_run(d)]
        if not runs:
            raise TrainingError(f"{root}: no finished runs. Fix: execute the notebook that trains them first "
                                f"(e.g. `charclf study --profile {self.profile} --only 04`)")
        return max(runs, key=lambda r: getattr(r.record, metric))

    def cached_run(self, name: str, build_fn: Callable[[Path], object]) -> Run:
        return cached_run(name, self.profile, build_fn, self.retrain)

    def workdir(self, name: str) -> Path:
        """``outputs/runs/<profile>/<name>`` for a step that caches itself (e.g. an Optuna study in SQLite,
        which resumes or reuses finished trials); emptied first when retraining."""
        path = self.runs_dir / name
        if self.retrain and path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def cached_json(self, name: str, build_fn: Callable[[Path], object], filename: str = "results.json") -> dict:
        return cached_json(name, self.profile, build_fn, self.retrain, filename=filename)

    def train(self, name: str, config, data, *, model=None, keep_weights: bool = True,
              evaluate_parts: tuple[str, ...] = ("test",)) -> Run:
        """Train ``config`` on ``data`` into the run ``name`` (or load it when cached); prints one line.

        ``model`` defaults to ``create_model(config.model, ...)``; pass one to start from other weights
        (fine-tuning, transfer). The run's record also gets this profile's and the run's name.
        ``keep_weights=False`` drops ``model.safetensors`` afterwards (metrics and history stay): for runs no
        later notebook loads whose weights would only bloat the repository (e.g. a 31 MB smoke-test model).
        """
        def build(run_dir: Path) -> None:
            from charclf.models import create_model
            from charclf.train import fit

            if model is None:
                # Seed before building: a run's initial weights then depend on its config alone, not on how
                # many random numbers earlier cells of the notebook happened to draw.
                seed_everything(config.seed)
            net = model if model is not None else create_model(config.model, num_classes=data.num_classes,
                                                               **config.model_kwargs)
            fit(net, data, config, run_dir, progress=False, resume=resumable(run_dir),
                evaluate_parts=evaluate_parts)
            prune_run(run_dir)
            update_record(run_dir, profile=self.profile, run=name, weights_kept=keep_weights)
            if not keep_weights:
                (run_dir / "model.safetensors").unlink(missing_ok=True)

        run = self.cached_run(name, build)
        print(describe_run(run))
        return run


def setup(seed: int = 0, *, profile: str = "quick", data_dir=None, protocol: str = "holdout",
          retrain: bool = False, quiet: bool = False, download: bool | None = None) -> StudyContext:
    """Print versions, seed everything, resolve the notebook's parameters; returns a :class:`StudyContext`.

    ``download`` (default: yes unless ``$CHARCLF_NO_DOWNLOAD=1``): ``ctx.load_data`` fetches missing official
    files into the data folder on first use. The data folder is printed as ``$CHARCLF_DATA_DIR`` or relative to
    the repository, so executed notebooks never record this machine's paths.
    """
    from charclf.data import resolve_data_dir
    from charclf.data.download import NO_DOWNLOAD_ENV, downloads_allowed

    settings = profile_settings(profile)
    inline_figures()
    if protocol not in ("holdout", "official"):
        from charclf.errors import unknown_name

        raise unknown_name("protocol", protocol, ["holdout", "official"])
    seed_everything(seed)
    download = downloads_allowed() if download is None else bool(download)
    ctx = StudyContext(profile=profile, protocol=protocol, seed=int(seed), data_dir=resolve_data_dir(data_dir),
                       retrain=retrain_requested(retrain), settings=settings, download=download)
    if not quiet:
        for key, value in versions().items():
            print(f"{key:>12}: {value}")
        print(f"{'seed':>12}: {seed}")
        print(f"{'profile':>12}: {profile} — {settings.description}")
        print(f"{'protocol':>12}: {protocol}")
        print(f"{'data_dir':>12}: {ctx.data_dir_label}")
        print(f"{'download':>12}: " + ("missing official files are downloaded on first use" if download else
                                       "off" + (f" (${NO_DOWNLOAD_ENV})" if not downloads_allowed() else "")))
        print(f"{'retrain':>12}: {ctx.retrain}" + (f" (from ${RETRAIN_ENV})" if RETRAIN_ENV in os.environ else ""))
    return ctx
