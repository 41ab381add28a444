"""A new user's path, without the internet: an empty data folder, a mirror on 127.0.0.1 serving an archive in
NIST's ``gzip.zip`` layout with its ``SHA256SUMS`` manifest, the download and its verification, loading under
the protocol shipped with the package, and notebook 00's quick profile on the result.

The synthetic ByClass test file has the real one's 116,323 images (blank but for a class marker and an
index), so the shipped index file applies to it as it does to NIST's."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from httpmirror import MirrorServer, manifest
from synth import MARKER_OFFSET, official_files, synth_split, write_zip

from charclf.data import load_data, runnable_protocols, verify_data_dir
from charclf.data.download import MIRRORS_ENV, NO_DOWNLOAD_ENV
from charclf.data.official import DATA_ENV
from charclf.data.protocols import SHIPPED_DIR

N_BYCLASS_TEST = 116_323
NOTEBOOK_00 = Path(__file__).resolve().parent.parent / "notebooks" / "00_setup_and_data.ipynb"


@pytest.fixture(scope="module")
def mirror(tmp_path_factory):
    files = official_files(("byclass",), parts=("test",), n=N_BYCLASS_TEST, noise=False)
    archive = write_zip(tmp_path_factory.mktemp("served") / "gzip.zip", files).read_bytes()
    srv = MirrorServer({"/emnist/gzip.zip": archive, "/emnist/SHA256SUMS": manifest(archive, files)})
    srv.url = srv.base + "/emnist/gzip.zip"
    yield srv
    srv.close()


@pytest.fixture
def env(tmp_path, mirror, monkeypatch):
    monkeypatch.setenv(MIRRORS_ENV, mirror.url)
    # The mirror serves synthetic stand-ins for NIST's files: a user must allow such a mirror knowingly.
    monkeypatch.setenv("CHARCLF_ALLOW_NON_NIST_MIRROR", "1")
    monkeypatch.setenv("CHARCLF_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv(NO_DOWNLOAD_ENV, raising=False)
    monkeypatch.delenv(DATA_ENV, raising=False)


def test_download_verify_and_load_under_the_shipped_protocol(tmp_path, mirror, env):
    root = tmp_path / "fresh"
    with pytest.warns(UserWarning, match="not NIST's files"):
        bundle = load_data("byclass", "holdout", root, download=True)
    assert (root / "emnist" / "gzip.zip").read_bytes() == mirror.files["/emnist/gzip.zip"]
    assert [r["path"] for r in mirror.requests[-2:]] == ["/emnist/SHA256SUMS", "/emnist/gzip.zip"]
    assert not (root / "protocols").exists()  # nothing but the archive: the protocol came with the package
    assert bundle.describe()["sizes"] == {"train": 93_055, "val": 11_634, "test": 11_634}
    shipped = np.load(SHIPPED_DIR / "byclass-test-holdout.npz")
    _, labels = synth_split("byclass", "test", N_BYCLASS_TEST, noise=False)
    for part in ("train", "val", "test"):
        ds = getattr(bundle, part)
        images = ds.images.numpy()
        index = images[:, 27, 0].astype(np.int64) | images[:, 27, 1].astype(np.int64) << 8 \
            | images[:, 27, 2].astype(np.int64) << 16  # each image carries its position in the file
        np.testing.assert_array_equal(index, shipped[part])
        np.testing.assert_array_equal(ds.labels.numpy(), labels[shipped[part]])
        np.testing.assert_array_equal(images[:, 0, 27], MARKER_OFFSET + labels[shipped[part]])
    table = verify_data_dir(root).set_index(["dataset", "kind", "part"])
    assert table.loc[("byclass", "images", "test"), "status"] == "mismatch"  # a mirror's data is not NIST's
    assert table.loc[("byclass", "holdout-index", ""), "status"] == "ok"
    assert "shipped with charclf" in table.loc[("byclass", "holdout-index", ""), "note"]
    runnable = runnable_protocols(table.reset_index()).set_index(["dataset", "protocol"])
    assert not runnable.loc[("byclass", "holdout"), "runnable"]  # verify never counts non-official bytes


@pytest.mark.slow  # executes notebook 00
def test_notebook_00_quick_profile_on_a_fresh_machine(tmp_path, mirror, env):
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    import nbformat

    from charclf.study.runner import execute_notebook

    fresh = tmp_path / "fresh"
    params = {"PROFILE": "quick", "DATA_DIR": None, "PROTOCOL": "holdout", "SEED": 0, "RETRAIN": False}
    out = tmp_path / "executed" / NOTEBOOK_00.name
    execute_notebook(NOTEBOOK_00, params, out_path=out, cwd=NOTEBOOK_00.parent, timeout=300,
                     env={DATA_ENV: str(fresh), "CHARCLF_OUTPUTS_DIR": str(tmp_path / "outputs")})
    assert (fresh / "emnist" / "gzip.zip").is_file()  # the notebook downloaded it on first use
    nb = nbformat.read(out, as_version=4)
    text = "\n".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/html", ""))
                     + str(o.get("data", {}).get("text/plain", ""))
                     for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "data_dir: $CHARCLF_DATA_DIR" in text and "Downloading EMNIST" in text
    assert "93055" in text.replace(",", "") and "11634" in text.replace(",", "")
    assert str(tmp_path) not in text.replace(f"into {fresh / 'emnist'}/", "")  # only the download names the folder
