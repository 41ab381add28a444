"""Where the study writes: ``outputs/`` in the repo, or ``$CHARCLF_OUTPUTS_DIR`` (tests point it at a temp dir
so running them never rewrites the committed artifacts)."""
from __future__ import annotations

import os
from pathlib import Path

from charclf.provenance import REPO_ROOT


def outputs_dir() -> Path:
    env = os.environ.get("CHARCLF_OUTPUTS_DIR")
    return Path(env) if env else REPO_ROOT / "outputs"


def runs_dir(profile: str) -> Path:
    return outputs_dir() / "runs" / profile


def figures_dir() -> Path:
    env = os.environ.get("CHARCLF_FIGURES_DIR")
    return Path(env) if env else outputs_dir() / "figures"


def model_hub_dir() -> Path:
    return REPO_ROOT / "model_hub"
