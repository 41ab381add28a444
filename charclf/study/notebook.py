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
import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from charclf.errors import ConfigError, TrainingError
from charclf.paths import figures_dir
from charclf.study.profiles import ProfileSettings, profile_settings
from charclf.study.runs import (
    RENDER_ENV,
    RETRAIN_ENV,
    Run,
    cached_json,
    cached_run,
    describe_run,
    is_finished_run,
    load_run,
    prune_run,
    render_only_requested,
    resumable,
    retrain_requested,
    update_record,
)
from charclf.train.engine import seed_everything  # noqa: F401  (one home; notebooks import it from here)


# -- environment -----------------------------------------------------------------------------------------
def on_colab() -> bool:
    """True inside Google Colab (its runtime preloads the ``google.colab`` module)."""
    return "google.colab" in sys.modules


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
    info["precision a run started here trains in"] = precision_name(resolve_amp("auto", torch.device("cuda" if torch.cuda.is_available()
                                                                                  else "cpu")))
    info["platform"] = platform.platform()
    info["colab"] = on_colab()
    return info


def inline_figures() -> None:
    """In a Jupyter kernel, show figures inline — also ``charclf.eval.figures``'s ``Figure`` objects, which are not
    pyplot's and only render once the inline backend has registered its formatter (even if the environment
    says ``MPLBACKEND=Agg``, as CI does). Outside a kernel this does nothing."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with every Jupyter kernel
        return
    shell = get_ipython()
    if shell is not None and hasattr(shell, "kernel"):
        shell.run_line_magic("matplotlib", "inline")


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
    with pd.option_context(*table_display_options(max_rows)):
        display(table)


def table_display_options(max_rows: int | None = 80) -> tuple:
    """The pandas options a notebook table is displayed under (``pd.option_context(*...)``): up to ``max_rows``
    rows, and every cell whole: pandas' default cuts text at 50 characters, which turned a counted precision label
    ("bf16 ×1, fp32 ×2 / val fp32, ...") into a wrong-looking "bf16 / ..."."""
    return ("display.max_rows", max_rows, "display.min_rows", max_rows or 10, "display.max_columns", 40,
            "display.width", 200, "display.max_colwidth", None)


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
    train_missing: bool = True  # False when rendering ($CHARCLF_RENDER_ONLY=1): load finished results only

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
        """Save ``fig`` as ``outputs/figures/<name>_<profile>.png`` (``_<profile>-official`` under the official
        protocol, so it never replaces the committed holdout figure) and return it (so a cell ending with
        ``ctx.save(...)`` also displays it)."""
        from charclf.eval.figures import savefig
        from charclf.paths import runs_folder

        # Same root as the runs, so CHARCLF_OUTPUTS_DIR (tests, CI) keeps the committed figures untouched.
        directory = figures_dir()
        savefig(fig, f"{name}_{runs_folder(self.profile, self.protocol)}", directory=directory)
        return fig

    def show(self, table, title: str, *, max_rows: int | None = 80) -> None:
        """Display a table under a caption that names profile and protocol (plain HTML: no random ids)."""
        show_table(table, f"{title} [{self.tag}]", max_rows=max_rows)

    @property
    def runs_dir(self) -> Path:
        """``outputs/runs/<profile>``, or ``<profile>-official`` under the official protocol (paths.runs_folder)."""
        from charclf.paths import runs_dir

        return runs_dir(self.profile, self.protocol)

    def load_data(self, split: str = "byclass", *, protocol: str | None = None, train: int | None | str = "profile",
                  val: int | None | str = "profile", test: int | None | str = "profile"):
        """The split under this notebook's protocol (or ``protocol``), cut to the profile's stratified subsets
        (sizes may be overridden; ``None`` keeps a part whole)."""
        from charclf.data import load_data, stratified_subset

        # The split is the protocol's, not the notebook's seed: the official val part is drawn as every other
        # command draws it (seed 0), so `evaluate` or the ensemble never score a val image a run trained on.
        bundle = load_data(split, protocol or self.protocol, self.data_dir, download=self.download)
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

        Under a profile that caps epochs (quick), an EMA of the weights (and SWA) is switched off — over a few dozen
        steps the average still mostly remembers the random initialisation, which would measure the EMA's
        warm-up, not the recipe — and so is test-time augmentation, which costs 5 evaluations per image.
        """
        changes.setdefault("epochs", self.settings.epochs(config.epochs))
        changes.setdefault("seed", self.seed)
        if self.settings.max_epochs is not None:
            changes.setdefault("ema_decay", None)
            changes.setdefault("swa_start_epoch", None)  # SWA likewise: a mean of one or two epochs' weights
            changes.setdefault("swa_lr", None)
            changes.setdefault("tta", False)
        if changes["epochs"] < config.epochs and "scheduler" not in changes:
            from charclf.train.recipes import compress_schedule

            changes["scheduler"] = compress_schedule(config.scheduler, changes["epochs"] / config.epochs)
        return dataclasses.replace(config, **changes)

    def skip_reason(self, model_name: str, num_classes: int = 62, model_kwargs: dict | None = None) -> str | None:
        """Why this profile does not train ``model_name`` (built with ``model_kwargs``: EfficientNet's
        ``input_size`` changes its MACs) (too many MACs per image for it), or None."""
        limit = self.settings.max_mmacs
        if limit is None:
            return None
        from charclf.models import create_model
        from charclf.models.summary import model_summary

        mmacs = model_summary(create_model(model_name, num_classes=num_classes, **(model_kwargs or {})))["macs"] / 1e6
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
        return cached_run(name, self.profile, build_fn, self.retrain, train_missing=self.train_missing,
                          protocol=self.protocol)

    def workdir(self, name: str) -> Path:
        """``outputs/runs/<profile>/<name>`` for a step that caches itself (e.g. an Optuna study in SQLite,
        which resumes or reuses finished trials); set aside first when retraining (moved, never deleted)."""
        from charclf.study.runs import set_aside

        path = self.runs_dir / name
        if self.retrain and path.exists():
            set_aside(path, self.runs_dir.parent, "retraining")  # runs_dir: outputs/runs/<profile>[-official]
        if self.train_missing:  # rendering writes nothing: a step with nothing cached says so itself
            path.mkdir(parents=True, exist_ok=True)
        return path

    def cached_json(self, name: str, build_fn: Callable[[Path], object], filename: str = "results.json") -> dict:
        return cached_json(name, self.profile, build_fn, self.retrain, filename=filename,
                           train_missing=self.train_missing, protocol=self.protocol)

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
        if run.cached and (warning := cached_run_config_warning(name, run, config)):
            print(warning, end="")
        print(describe_run(run))
        return run


def cached_run_config_warning(name: str, run: Run, config) -> str | None:
    """A warning line (printed in the notebook's output, so no machine path reaches it) when a cached run's own
    config differs from the one the cell asks for, else None: the cell shows the cached run's numbers, and a reader
    must not take them for the cell's config (a recipe or code change since the run was trained)."""
    from charclf.provenance import repo_relative
    from charclf.train.config import config_differences

    details = config_differences(run.config, config.to_dict()) if run.config else ""
    if not details:
        return None
    return (f"[{name}] WARNING: the cached run {repo_relative(run.dir)} was trained under another config than this "
            f"cell asks for ({details}); what follows is the cached run's, under its own train_config.json. Fix: "
            f"set RETRAIN = True (or CHARCLF_RETRAIN=1) to train it under this cell's config\n")


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
    if render_only_requested() and retrain_requested(retrain):
        raise ConfigError(f"RETRAIN asks to train again while ${RENDER_ENV}=1 asks to train nothing. Fix: drop one "
                          "of the two (`charclf study --train --retrain` retrains)")
    download = downloads_allowed() if download is None else bool(download)
    ctx = StudyContext(profile=profile, protocol=protocol, seed=int(seed), data_dir=resolve_data_dir(data_dir),
                       retrain=retrain_requested(retrain), settings=settings, download=download,
                       train_missing=not render_only_requested())
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
        if not ctx.train_missing:
            print(f"{'render only':>12}: finished results are loaded, nothing is trained (${RENDER_ENV}=1)")
    return ctx
