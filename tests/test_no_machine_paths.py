"""Committed notebooks are the report: their outputs must not name the machine they were executed on
(``/work/...``, ``/home/...``, ``/tmp/...``). The code prints data folders as ``$CHARCLF_DATA_DIR`` or relative to
the repository (``charclf.data.official.display_data_dir``); this checks what was committed."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))
MACHINE_PATH = re.compile(r"(?<![\w.~$])/(?:work|home|tmp|root|Users|content|mnt|scratch)/[^\s\"'\\]*")


@pytest.mark.parametrize("ipynb", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_committed_notebook_names_no_machine_path(ipynb):
    hits = sorted({m.group(0) for m in MACHINE_PATH.finditer(ipynb.read_text())})
    # /content/... is Colab's folder, named on purpose in notebook 00's first cell (source, not output).
    hits = [h for h in hits if not h.startswith("/content/charclf-data")]
    assert not hits, (f"{ipynb.name} names machine paths {hits[:5]}. Fix: print paths with "
                      "charclf.data.official.display_data_dir (or relative to the repo) and re-execute it")


HUB_FILES = sorted(p for p in (Path(__file__).resolve().parent.parent / "model_hub").rglob("*")
                   if p.suffix in (".json", ".md"))


@pytest.mark.parametrize("path", HUB_FILES, ids=[p.relative_to(p.parents[1]).as_posix() for p in HUB_FILES])
def test_published_models_name_no_machine_path(path):
    """A model card or seeds.json names its run folders relative to the repository."""
    hits = sorted({m.group(0) for m in MACHINE_PATH.finditer(path.read_text())})
    assert not hits, f"{path} names machine paths {hits[:5]}. Fix: republish it (tools/publish_models.py --write)"


def test_display_data_dir(tmp_path, monkeypatch):
    from charclf.data.official import DATA_ENV, display_data_dir
    from charclf.provenance import REPO_ROOT

    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    assert display_data_dir(tmp_path) == "$CHARCLF_DATA_DIR"
    monkeypatch.delenv(DATA_ENV)
    assert display_data_dir(REPO_ROOT / "data") == "data"
    assert display_data_dir(REPO_ROOT) == "."
    monkeypatch.setenv("HOME", str(tmp_path))
    assert display_data_dir(tmp_path / "emnist-copy") == "~/emnist-copy"
