"""The real EMNIST/MNIST files (skipped when CHARCLF_DATA_DIR does not hold them): counts, holdout protocol,
orientation, official checksums and mappings."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest

from charclf.apps.cli import main
from charclf.data import (
    OFFICIAL_MAPPINGS,
    OFFICIAL_SHA256,
    load_data,
    load_mapping,
    load_mnist,
    load_official,
    merge_classes,
    runnable_protocols,
    verify_data_dir,
)
from charclf.data.idx import read_idx
from charclf.errors import DataError

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        path = tmp_path_factory.mktemp("cache")
        mp.setenv("CHARCLF_CACHE_DIR", str(path))
        yield path


@pytest.fixture(scope="module")
def byclass_test(real_data_dir, cache_dir):
    return load_official("byclass", "test", real_data_dir)


@pytest.fixture(scope="module")
def classes(real_data_dir):
    return load_mapping("byclass", real_data_dir)


def _mean_image(images, labels, classes, char) -> np.ndarray:
    return images[labels == classes.index(char)].astype(np.float64).mean(0)


def test_byclass_test_counts(byclass_test):
    images, labels = byclass_test
    assert images.shape == (116_323, 28, 28) and images.dtype == np.uint8 and labels.dtype == np.int64
    counts = np.bincount(labels, minlength=62)
    assert len(counts) == 62 and (counts > 0).all()


def test_byclass_mapping_characters(real_data_dir, classes):
    assert "".join(classes) == "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


@pytest.mark.parametrize("split", ["byclass", "bymerge", "balanced", "letters", "digits", "mnist"])
def test_real_mapping_files_equal_the_built_in_tables(real_data_dir, split):
    assert (real_data_dir / "emnist" / f"emnist-{split}-mapping.txt").is_file()
    assert load_mapping(split, real_data_dir) == OFFICIAL_MAPPINGS[split]


@pytest.mark.parametrize("split", ["bymerge", "balanced"])
def test_merging_byclass_gives_the_real_47_class_mapping(real_data_dir, classes, split):
    assert merge_classes(np.arange(62), classes)[1] == load_mapping(split, real_data_dir)


def test_merged_byclass_labels_have_47_classes(byclass_test, classes):
    merged, merged_classes = merge_classes(byclass_test[1], classes)
    assert len(merged_classes) == 47 and set(np.unique(merged)) == set(range(47))


@pytest.mark.parametrize("char, ink_band, empty_band", [
    ("7", "top", "left"),     # the bar of a 7 is at the top; transposed it would be on the left
    ("T", "top", "left"),
    ("L", "left", "top"),     # an L's stem is on the left, its foot at the bottom
    ("L", "bottom", "right"),
])
def test_byclass_images_are_upright(byclass_test, classes, char, ink_band, empty_band):
    # Transposing swaps top<->left and bottom<->right, so each check fails if the orientation fix is missing.
    mean = _mean_image(*byclass_test, classes, char)
    bands = {"top": mean[3:9].sum(), "left": mean[:, 3:9].sum(), "bottom": mean[19:25].sum(),
             "right": mean[:, 19:25].sum()}
    assert bands[ink_band] > 1.5 * bands[empty_band], bands


def test_emnist_mnist_digits_look_like_classic_mnist(real_data_dir, cache_dir):
    # Classic MNIST is stored upright. Each EMNIST-MNIST digit's mean image must correlate better with the
    # classic mean image than with its transpose — true only if our transpose is right.
    em_x, em_y = load_official("mnist", "test", real_data_dir)
    mn_x, mn_y = load_mnist("test", real_data_dir)
    assert em_x.shape == (10_000, 28, 28) and set(np.unique(em_y)) == set(range(10))
    for digit in range(10):
        ours = em_x[em_y == digit].mean(0).ravel()
        ref = mn_x[mn_y == digit].astype(np.float64).mean(0)
        upright = np.corrcoef(ours, ref.ravel())[0, 1]
        transposed = np.corrcoef(ours, ref.T.ravel())[0, 1]
        assert upright > transposed + 0.02, (digit, upright, transposed)


def test_classic_mnist_counts(real_data_dir, cache_dir):
    assert load_mnist("train", real_data_dir)[0].shape == (60_000, 28, 28)
    assert len(load_mnist("test", real_data_dir)[1]) == 10_000


def test_holdout_protocol_sizes_and_disjoint(real_data_dir, cache_dir, byclass_test):
    bundle = load_data("byclass", "holdout", real_data_dir)
    assert (len(bundle.train), len(bundle.val), len(bundle.test)) == (93_055, 11_634, 11_634)
    assert bundle.protocol == "holdout" and all(getattr(bundle, p).protocol == "holdout"
                                                for p in ("train", "val", "test"))
    idx = np.load(real_data_dir / "protocols" / "byclass-test-holdout.npz")
    union = np.concatenate([idx["train"], idx["val"], idx["test"]])
    assert len(np.unique(union)) == len(union) == 116_323  # disjoint, and together the whole test file
    for part in ("train", "val", "test"):
        ds = getattr(bundle, part)
        assert (ds.class_counts() > 0).all()  # stratified: every class in every part
        assert np.array_equal(ds.labels.numpy(), byclass_test[1][idx[part]])
        np.testing.assert_array_equal(ds.images[:50].numpy(), byclass_test[0][idx[part][:50]])


def test_official_sha256_of_the_real_files(real_data_dir):
    folder = real_data_dir / "emnist"
    listed = dict(reversed(line.split()) for line in (folder / "OFFICIAL-SHA256SUMS").read_text().splitlines()
                  if line.strip())
    assert listed == OFFICIAL_SHA256  # the package's copy of NIST's list is exact
    present = sorted(p.name for p in folder.glob("emnist-*-ubyte.gz"))
    assert "emnist-byclass-test-images-idx3-ubyte.gz" in present
    for name in present:
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == OFFICIAL_SHA256[name], name


def test_verify_reports_real_files_ok_and_runnable_protocols(real_data_dir):
    table = verify_data_dir(real_data_dir).set_index("file")
    for name in ("emnist-byclass-test-images-idx3-ubyte.gz", "emnist-byclass-test-labels-idx1-ubyte.gz",
                 "emnist-mnist-test-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                 "train-images-idx3-ubyte.gz", "byclass-test-holdout.npz"):
        assert table.loc[name, "status"] == "ok", (name, table.loc[name, "note"])
    assert table.loc["emnist-byclass-train-images-idx3-ubyte.gz", "status"] == "missing"
    runnable = runnable_protocols(table.reset_index())
    can = {(r.dataset, r.protocol) for r in runnable.itertuples() if r.runnable}
    assert {("byclass", "holdout"), ("classic-mnist", "official")} <= can
    assert ("byclass", "official") not in can


def test_cli_verify_on_real_data(real_data_dir, capsys):
    assert main(["data", "verify", "--data-dir", str(real_data_dir)]) == 0
    out = capsys.readouterr().out
    assert "byclass/holdout" in out and "sha256 matches the official value" in out


def test_real_balanced_labels_fit_their_mapping_and_images_are_missing(real_data_dir):
    labels = read_idx(real_data_dir / "emnist" / "emnist-balanced-test-labels-idx1-ubyte.gz")
    assert len(labels) == 18_800 and labels.max() == 46
    with pytest.raises(DataError, match="emnist-balanced-test-images-idx3-ubyte.gz"):
        load_official("balanced", "test", real_data_dir)


def test_second_load_equals_the_first(real_data_dir, byclass_test, cache_dir):
    assert list(cache_dir.rglob("upright.*.npy"))
    images, labels = load_official("byclass", "test", real_data_dir)
    # np.array_equal, not np.testing: the latter takes seconds on 91 MB
    assert np.array_equal(images, byclass_test[0]) and np.array_equal(labels, byclass_test[1])


def test_a_run_is_never_scored_on_another_index_file_of_the_same_sizes(real_data_dir, cache_dir, tmp_path):
    """An override protocols/byclass-test-holdout.npz with the shipped sizes but the run's training images as its
    test part scored high and silently, and replaced the recorded test number: it is refused, nothing written."""
    import json
    import shutil

    from charclf.data.protocols import SHIPPED_SHA256
    from charclf.eval.evaluate import evaluate_run
    from charclf.provenance import REPO_ROOT

    swapped = tmp_path / "data"
    (swapped / "protocols").mkdir(parents=True)
    for entry in real_data_dir.iterdir():
        if entry.name != "protocols":
            (swapped / entry.name).symlink_to(entry)
    from charclf.data.protocols import holdout_file

    idx = np.load(holdout_file("byclass", real_data_dir))
    n = len(idx["test"])  # the same sizes, disjoint, but the test part is images the shipped split trains on
    np.savez(swapped / "protocols" / "byclass-test-holdout.npz", train=np.concatenate([idx["train"][n:], idx["test"]]),
             val=idx["val"], test=idx["train"][:n])
    bundle = load_data("byclass", "holdout", swapped)
    assert bundle.index_sha256 != SHIPPED_SHA256["byclass"] and "index_sha256" in bundle.describe()
    run = shutil.copytree(REPO_ROOT / "model_hub" / "tiny", tmp_path / "run")
    before = (run / "metrics.json").read_bytes()
    with pytest.raises(DataError, match="another split of the same images"):
        evaluate_run(run, data_dir=swapped)
    assert (run / "metrics.json").read_bytes() == before
    record = json.loads(before)  # made with the shipped file (no index sha recorded): the shipped file is fine
    assert "index_sha256" not in record.get("data", {})
    assert load_data("byclass", "holdout", real_data_dir).index_sha256 == SHIPPED_SHA256["byclass"]


def test_a_plain_model_folder_can_be_evaluated_twice(real_data_dir, cache_dir, tmp_path):
    """A model folder without a training record (downloaded, say) keeps its evaluations in metrics.json: a second
    charclf evaluate (another part) adds to them; it failed after the work ("not a run record")."""
    import json
    import shutil

    from charclf.eval.evaluate import evaluate_run
    from charclf.provenance import REPO_ROOT

    folder = tmp_path / "m"
    folder.mkdir()
    for name in ("model.safetensors", "config.json"):
        shutil.copy(REPO_ROOT / "model_hub" / "tiny" / name, folder / name)
    evaluate_run(folder, "val", data_dir=real_data_dir, tta=False)
    (folder / "metrics.json").write_text(json.dumps({**json.loads((folder / "metrics.json").read_text()),
                                                     "notes": "mine"}))
    evaluate_run(folder, "test", data_dir=real_data_dir, tta=False)
    saved = json.loads((folder / "metrics.json").read_text())
    assert set(saved["evaluation"]) == {"val", "test"} and saved["notes"] == "mine"
