"""Where charclf reads and writes: the one authority for the data, outputs, figures and model-hub folders.

A clone (an editable install: the repo's ``pyproject.toml`` sits beside the package) uses the repo's own
``data/``, ``outputs/`` and ``model_hub/``. A pip install (e.g. on Colab) has no repo: results go to
``./outputs`` of the working directory, never into site-packages. Environment variables override both (tests
point them at temporary folders, so running the suite never rewrites the committed artifacts).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from charclf.provenance import REPO_ROOT

DATA_ENV = "CHARCLF_DATA_DIR"
OUTPUTS_ENV = "CHARCLF_OUTPUTS_DIR"
FIGURES_ENV = "CHARCLF_FIGURES_DIR"
MODEL_HUB_ENV = "CHARCLF_MODEL_HUB"
COLAB_DATA_DIR = "/content/charclf-data"


def in_clone() -> bool:
    """True when the package runs from a checkout of the repository (not from a pip install)."""
    return (REPO_ROOT / "pyproject.toml").is_file()


def _env_or(name: str, repo_path: Path, fallback: Path) -> Path:
    if os.environ.get(name):
        return Path(os.environ[name]).expanduser()
    return repo_path if in_clone() else fallback


def data_dir() -> Path:
    """``$CHARCLF_DATA_DIR`` > ``<repo>/data`` in a clone that has it > ``/content/charclf-data`` on Colab >
    ``./data`` (``charclf.data.resolve_data_dir`` adds the explicit ``--data-dir`` and its checks)."""
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser()
    if in_clone() and (REPO_ROOT / "data").is_dir():
        return REPO_ROOT / "data"
    if "google.colab" in sys.modules:  # every notebook on Colab then shares one folder (and one download)
        return Path(COLAB_DATA_DIR)
    return Path("data")


def outputs_dir() -> Path:
    return _env_or(OUTPUTS_ENV, REPO_ROOT / "outputs", Path.cwd() / "outputs")


def runs_folder(profile: str, protocol: str = "holdout") -> str:
    """The folder under ``outputs/runs/`` of a profile's runs: ``full`` under the holdout protocol (every committed
    run), ``full-official`` under another. A run is found by its folder, so a run of one protocol is never loaded,
    shown or replaced as the other's."""
    return profile if protocol == "holdout" else f"{profile}-{protocol}"


def runs_dir(profile: str, protocol: str = "holdout") -> Path:
    return outputs_dir() / "runs" / runs_folder(profile, protocol)


def figures_dir() -> Path:
    env = os.environ.get(FIGURES_ENV)
    return Path(env) if env else outputs_dir() / "figures"


def bench_dir() -> Path:
    return outputs_dir() / "bench"


# Beside a race's JSON: every earlier session of that race, kept by `charclf race --overwrite` and read by the goals.
RACE_HISTORY_DIR = "history"


def model_hub_dir() -> Path:
    """The published models: ``$CHARCLF_MODEL_HUB`` > ``<repo>/model_hub`` > ``./model_hub``."""
    return _env_or(MODEL_HUB_ENV, REPO_ROOT / "model_hub", Path.cwd() / "model_hub")


def notebooks_dir() -> Path:
    return REPO_ROOT / "notebooks"
