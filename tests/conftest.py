"""Shared fixtures. Real-data tests use ``real_data_dir`` and are skipped when the EMNIST files are absent."""
from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
import torch

# The repo-only scripts of tools/ (README writing, run migration) are tested too.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

# Tests must not litter the user's ~/.cache/charclf with synthetic .npy caches: one temp cache per session,
# removed when the session ends (each left behind holds ~150 MB; repeated runs filled a CI disk).
if "CHARCLF_CACHE_DIR" not in os.environ:
    _session_cache = tempfile.mkdtemp(prefix="charclf-test-cache-")
    os.environ["CHARCLF_CACHE_DIR"] = _session_cache
    atexit.register(shutil.rmtree, _session_cache, ignore_errors=True)

# Subprocesses (a fresh `python -m charclf`, a killed training) read the same synthetic files: they skip the
# NIST-content check too (tests/synthetic_site/sitecustomize.py; see synthetic_official_files below).
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parent / "synthetic_site"),
                                                         os.environ.get("PYTHONPATH")]))

# Keep the unit suite light on the 2-core CI machine; respect OMP_NUM_THREADS when the caller set it.
torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS") or min(2, os.cpu_count() or 1)))


sys.path.insert(0, str(Path(__file__).resolve().parent / "synthetic_site"))
import synthetic_data_check  # noqa: E402

from charclf.data import official as _official  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def synthetic_official_files(tmp_path_factory):
    """Synthetic files under NIST's names, written under the session's temporary folder, load without the
    NIST-content check (``synthetic_data_check``); everything else, the real data included, is checked."""
    os.environ[synthetic_data_check.ROOT_ENV] = str(tmp_path_factory.getbasetemp())
    real = _official.check_official_content
    synthetic_data_check.install()
    yield
    _official.check_official_content = real


@pytest.fixture
def nist_content_checked(monkeypatch):
    """The NIST-content check on every file, the synthetic ones under the session's folder included."""
    monkeypatch.setattr(_official, "check_official_content",
                        getattr(_official.check_official_content, "real", _official.check_official_content))


def _real_data_dir() -> Path | None:
    env = os.environ.get("CHARCLF_DATA_DIR")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[2] / "shared" / "data")
    for cand in candidates:
        if (cand / "emnist" / "emnist-byclass-test-images-idx3-ubyte.gz").exists():
            return cand
    return None


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    path = _real_data_dir()
    if path is None:
        pytest.skip("real EMNIST data not found: set CHARCLF_DATA_DIR to the folder holding emnist/ and protocols/")
    return path


@pytest.fixture
def one_thread():
    """Tiny tensors gain nothing from intra-op threads, and on a shared 2-core machine spinning threads slow
    them down many times over; restored afterwards. Opt in per file with
    ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A tiny random-init ByClass LeNet saved the Hugging Face way (what predict and the demo load; invariance
    and wiring need no training)."""
    from charclf.models import create_model
    from charclf.models.hub import save_pretrained

    labels = tuple("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("model")
    save_pretrained(create_model("lenet", num_classes=62), out, architecture="lenet", num_classes=62,
                    labels=labels, mean=0.17, std=0.33, protocol="holdout", extra={"split": "byclass"})
    return out
