"""load_data: the official and holdout protocols on synthetic files, bad index files, and the protocol file
shipped with the package."""
from __future__ import annotations

import hashlib
import re

import numpy as np
import pytest
import torch
from synth import MARKER_OFFSET, expected, make_emnist_dir, make_holdout_npz

from charclf.apps.cli import main
from charclf.data import CharDataset, DataBundle, holdout_file, load_data, load_holdout_indices, make_holdout_split
from charclf.data.official import OFFICIAL_MAPPINGS
from charclf.data.protocols import SHIPPED_DIR, SHIPPED_SHA256, holdout_source
from charclf.errors import ConfigError, DataError, UnknownNameError


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CHARCLF_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("CHARCLF_DATA_DIR", raising=False)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return make_emnist_dir(tmp_path_factory.mktemp("data"), splits=("byclass", "letters", "mnist"), n=300,
                           holdout=True)


def _check_images_match_labels(ds: CharDataset):
    # Each synthetic image carries its class in a marker pixel: this catches images and labels drifting apart.
    np.testing.assert_array_equal(ds.images[:, 0, 27].numpy().astype(np.int64), MARKER_OFFSET + ds.labels.numpy())


@pytest.mark.parametrize("split", ["byclass", "letters", "mnist", "classic-mnist"])
def test_official_protocol(root, split):
    bundle = load_data(split, "official", root, val_fraction=0.2, seed=3)
    n_train = len(expected(split, "train", n=300)[1])
    assert isinstance(bundle, DataBundle) and bundle.protocol == "official" and bundle.split == split
    assert len(bundle.train) + len(bundle.val) == n_train and len(bundle.val) == round(0.2 * n_train)
    assert len(bundle.test) == len(expected(split, "test", n=300)[1])
    assert bundle.classes == OFFICIAL_MAPPINGS[split]
    for part in ("train", "val", "test"):
        ds = getattr(bundle, part)
        assert ds.part == part and ds.protocol == "official" and ds.split == split and ds.classes == bundle.classes
        assert ds.images.dtype.is_floating_point is False and ds.images.shape[1:] == (28, 28)
        _check_images_match_labels(ds)
    # val is stratified: each class keeps its share (within one sample of rounding)
    share = np.bincount(bundle.val.labels.numpy(), minlength=bundle.num_classes) / len(bundle.val)
    train_share = np.bincount(bundle.train.labels.numpy(), minlength=bundle.num_classes) / len(bundle.train)
    assert np.abs(share - train_share).max() <= 1.5 / len(bundle.val)
    # the same seed gives the same split; another seed another
    again = load_data(split, "official", root, val_fraction=0.2, seed=3)
    assert bundle.val.labels.tolist() == again.val.labels.tolist()
    assert (bundle.val.images == again.val.images).all()


def test_official_train_and_val_are_disjoint(root):
    bundle = load_data("byclass", "official", root, val_fraction=0.1)
    # images are distinct (noise), so compare them as bytes
    train = {bytes(x) for x in bundle.train.images.numpy().reshape(len(bundle.train), -1)}
    val = {bytes(x) for x in bundle.val.images.numpy().reshape(len(bundle.val), -1)}
    assert not train & val and len(train) == len(bundle.train)


@pytest.mark.parametrize("split", ["byclass", "classic-mnist"])
def test_holdout_protocol_uses_the_index_file(root, split):
    bundle = load_data(split, "holdout", root)
    idx = np.load(root / "protocols" / f"{split}-test-holdout.npz")
    images, labels = expected(split, "test", n=300)
    for part in ("train", "val", "test"):
        ds = getattr(bundle, part)
        assert ds.protocol == "holdout" and ds.part == part
        np.testing.assert_array_equal(ds.labels.numpy(), labels[idx[part]])
        np.testing.assert_array_equal(ds.images.numpy(), images[idx[part]])
    assert bundle.describe()["sizes"] == {k: len(idx[k]) for k in ("train", "val", "test")}
    assert bundle.describe()["protocol"] == "holdout"


def test_holdout_with_explicit_protocol_file(root, tmp_path):
    labels = expected("letters", "test", n=300)[1]  # stratified: every part holds every class
    path = make_holdout_npz(tmp_path / "mine.npz", labels=labels, fractions=(0.5, 0.25, 0.25), seed=1)
    bundle = load_data("letters", "holdout", root, protocol_file=path)
    assert (len(bundle.train), len(bundle.val), len(bundle.test)) == (150, 75, 75)


@pytest.mark.parametrize("bad", ["empty-test", "class-missing"])
def test_a_protocol_with_an_empty_part_or_a_missing_class_is_refused_by_verify_and_load(root, tmp_path, bad):
    """Issue 35 case 5: refused before any work (load_data) and by `charclf data verify` (not runnable)."""
    import shutil

    labels = expected("letters", "test", n=300)[1]
    parts = make_holdout_split(labels, (0.8, 0.1, 0.1), seed=0)
    if bad == "empty-test":
        parts = {**parts, "train": np.concatenate([parts["train"], parts["test"]]), "test": parts["test"][:0]}
        message = "its test part is empty"
    else:  # every 'Q' of val moved to train: val still has >= 26 images, so it could hold every class
        q = np.isin(parts["val"], np.flatnonzero(labels == 16))
        parts = {**parts, "train": np.concatenate([parts["train"], parts["val"][q]]), "val": parts["val"][~q]}
        # loading names the class by its character, verify by its official label (Letters' 'Q' is 17)
        message = r"its val part \(\d+ images\) has no image of 1 of the 26 classes \(('Q'|label 17)\)"
    data = tmp_path / "data"
    shutil.copytree(root, data)
    (data / "protocols").mkdir(exist_ok=True)
    np.savez(data / "protocols" / "letters-test-holdout.npz", **parts)
    with pytest.raises(DataError, match=message):
        load_data("letters", "holdout", data)
    from charclf.data.verify import runnable_protocols, verify_data_dir

    table = verify_data_dir(data)
    row = table[(table.dataset == "letters") & (table.kind == "holdout-index")].iloc[0]
    assert row.status == "damaged" and re.search(message, row.note)
    runnable = runnable_protocols(table).set_index(["dataset", "protocol"]).runnable
    assert not runnable[("letters", "holdout")]


def test_make_holdout_split_is_stratified_and_disjoint():
    labels = np.repeat(np.arange(10), 50)
    parts = make_holdout_split(labels, (0.8, 0.1, 0.1), seed=0)
    assert [len(parts[k]) for k in ("train", "val", "test")] == [400, 50, 50]
    assert len(np.unique(np.concatenate(list(parts.values())))) == 500
    for k in ("val", "test"):
        assert (np.bincount(labels[parts[k]], minlength=10) == 5).all()
    with pytest.raises(ConfigError):
        make_holdout_split(labels, (0.5, 0.5, 0.5))


# --------------------------------------------------------------------------------------- bad input
def test_missing_holdout_file_fails_before_decoding(root, tmp_path, monkeypatch):
    import charclf.data.protocols as protocols

    monkeypatch.setattr(protocols, "load_any", lambda *a, **k: pytest.fail("decoded data before checking the .npz"))
    with pytest.raises(DataError, match="holdout index file not found") as info:
        load_data("byclass", "holdout", root, protocol_file=tmp_path / "none.npz")
    assert "protocol='official'" in info.value.fix


@pytest.mark.parametrize("content, message", [
    ({"train": np.arange(5), "val": np.arange(5, 8)}, "no key"),
    ({"train": np.arange(5), "val": np.arange(5, 8), "test": np.array([8, 300])}, "indexes 8..300"),
    ({"train": np.arange(5), "val": np.arange(4, 8), "test": np.array([9])}, "overlap"),
    ({"train": np.arange(5.0), "val": np.arange(5, 8), "test": np.array([9])}, "integer"),
])
def test_bad_holdout_index_files(root, tmp_path, content, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **content)
    with pytest.raises(DataError, match=message) as info:
        load_data("byclass", "holdout", root, protocol_file=path)
    assert info.value.path == path


def test_holdout_file_that_is_not_npz(root, tmp_path):
    path = tmp_path / "bad.npz"
    path.write_text("not an npz")
    with pytest.raises(DataError, match="not a readable .npz"):
        load_data("byclass", "holdout", root, protocol_file=path)


def test_unknown_names_and_bad_fraction(root):
    with pytest.raises(UnknownNameError, match="holdout"):
        load_data("byclass", "offical", root)
    with pytest.raises(UnknownNameError, match="byclass"):
        load_data("byklass", "holdout", root)
    with pytest.raises(ConfigError, match="val_fraction"):
        load_data("byclass", "official", root, val_fraction=1.5)


def test_official_protocol_without_train_files_says_so(tmp_path):
    root = make_emnist_dir(tmp_path / "d", splits=("digits",), parts=("test",), n=40, mnist=False)
    with pytest.raises(DataError, match="emnist-digits-train-images") as info:
        load_data("digits", "official", root)
    assert "holdout" in info.value.fix


# ------------------------------------------------------------------------------ the shipped ByClass protocol
def test_the_shipped_protocol_is_pinned_and_used_without_a_protocols_folder(tmp_path):
    shipped = SHIPPED_DIR / "byclass-test-holdout.npz"
    assert hashlib.sha256(shipped.read_bytes()).hexdigest() == SHIPPED_SHA256["byclass"]
    assert holdout_file("byclass", tmp_path) == shipped and "shipped" in holdout_source(shipped)
    idx = load_holdout_indices(shipped, 116_323)
    assert [len(idx[k]) for k in ("train", "val", "test")] == [93_055, 11_634, 11_634]
    # other splits have no shipped file: their default stays in the data dir (and is reported missing)
    assert holdout_file("letters", tmp_path) == tmp_path / "protocols" / "letters-test-holdout.npz"


def test_the_shipped_protocol_is_checked_against_the_size_of_the_file_it_splits(tmp_path):
    root = make_emnist_dir(tmp_path / "d", splits=("byclass",), parts=("test",), n=300, mnist=False)
    with pytest.raises(DataError, match="indexes 0..116322, but the file it splits has 300 images") as info:
        load_data("byclass", "holdout", root)
    assert info.value.path == SHIPPED_DIR / "byclass-test-holdout.npz" and "charclf data verify" in info.value.fix


def test_a_protocols_folder_in_the_data_dir_overrides_the_shipped_file(root):
    path = root / "protocols" / "byclass-test-holdout.npz"
    assert holdout_file("byclass", root) == path
    assert "DIFFERENT from the shipped file" in holdout_source(path)
    assert len(load_data("byclass", "holdout", root).train) == len(np.load(path)["train"])


def test_a_damaged_shipped_file_is_refused(tmp_path, monkeypatch):
    import charclf.data.protocols as protocols

    fake = tmp_path / "pkg"
    fake.mkdir()
    data = bytearray((SHIPPED_DIR / "byclass-test-holdout.npz").read_bytes())
    data[-30] ^= 1
    (fake / "byclass-test-holdout.npz").write_bytes(bytes(data))
    monkeypatch.setattr(protocols, "SHIPPED_DIR", fake)
    with pytest.raises(DataError, match="pinned value") as info:
        load_data("byclass", "holdout", tmp_path / "empty")
    assert "reinstall" in info.value.fix


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04" + b"\x00" * 40, "truncated"])
def test_empty_or_truncated_protocol_file_is_one_clear_line(tmp_path, content, capsys):
    root = make_emnist_dir(tmp_path / "d", splits=("byclass",), parts=("test",), n=300, mnist=False, holdout=True)
    path = root / "protocols" / "byclass-test-holdout.npz"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if content == "truncated" else content)
    with pytest.raises(DataError, match="not a readable .npz index file") as info:
        load_data("byclass", "holdout", root)
    assert info.value.path == path and "\n" not in str(info.value)
    assert "charclf then uses the index file it ships" in info.value.fix
    # `charclf data verify` still prints its whole table, with the file marked damaged
    assert main(["data", "verify", "--data-dir", str(root)]) == 1
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if "holdout-index" in line and "byclass" in line)
    assert "damaged" in row and "not a readable .npz" in row
    assert "protocols:" in out and "mnist" in out


# ------------------------------------------------------------------------------------------------ real data
def test_shipped_indices_equal_the_shared_protocol(real_data_dir):
    shared = real_data_dir / "protocols" / "byclass-test-holdout.npz"
    if not shared.is_file():
        pytest.skip(f"{shared} is not here")
    ours, theirs = np.load(SHIPPED_DIR / "byclass-test-holdout.npz"), np.load(shared)
    assert sorted(ours.files) == sorted(theirs.files) == ["test", "train", "val"]
    for key in ("train", "val", "test"):
        np.testing.assert_array_equal(ours[key], theirs[key])


@pytest.mark.realdata
def test_only_the_two_official_test_files_reproduce_the_study_split(real_data_dir, tmp_path):
    emnist = tmp_path / "fresh" / "emnist"
    emnist.mkdir(parents=True)
    for kind in ("images-idx3", "labels-idx1"):
        name = f"emnist-byclass-test-{kind}-ubyte.gz"
        (emnist / name).symlink_to(real_data_dir / "emnist" / name)
    fresh = load_data("byclass", "holdout", tmp_path / "fresh")
    assert fresh.describe()["sizes"] == {"train": 93_055, "val": 11_634, "test": 11_634}
    shared = real_data_dir / "protocols" / "byclass-test-holdout.npz"
    if shared.is_file():
        reference = load_data("byclass", "holdout", real_data_dir, protocol_file=shared)
        for part in ("train", "val", "test"):
            assert torch.equal(getattr(fresh, part).images, getattr(reference, part).images)
            assert torch.equal(getattr(fresh, part).labels, getattr(reference, part).labels)


def test_facts_saved_before_the_index_file_was_recorded_match_the_shipped_file_only():
    from charclf.data.protocols import SHIPPED_SHA256, with_recorded_index

    old = {"split": "byclass", "protocol": "holdout", "sizes": {"test": 3}}
    shipped = {**old, "index_sha256": SHIPPED_SHA256["byclass"]}
    other = {**old, "index_sha256": "0" * 64}
    assert with_recorded_index(old, shipped) == old  # the shipped file: what every older record used
    assert with_recorded_index(old, other) == other  # another one stays, so the facts differ
    assert with_recorded_index(shipped, other) == other  # a record with its sha compares it as it is


def test_an_official_val_part_drawn_otherwise_than_the_runs_is_refused(root):
    from charclf.data.protocols import check_same_val_draw

    usual, other = load_data("byclass", "official", root), load_data("byclass", "official", root, seed=1)
    assert "val_draw" not in usual.describe()  # the draw every command makes: records stay as they were
    assert other.describe()["val_draw"] == {"seed": 1, "fraction": 0.1}
    check_same_val_draw({"protocol": "official"}, usual, "run/metrics.json", "fix")  # an older record: seed 0
    check_same_val_draw(other.describe(), other, "run/metrics.json", "fix")
    with pytest.raises(DataError, match="run/metrics.json.*val part was drawn.*'seed': 1"):
        check_same_val_draw(other.describe(), usual, "run/metrics.json", "load it as the run did")
    with pytest.raises(DataError, match="'seed': 0.*loaded with.*'seed': 1"):
        check_same_val_draw({"protocol": "official"}, other, "run/metrics.json", "load it as the run did")


@pytest.mark.parametrize("name, content", [("some.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40),
                                           ("parts.npy", "npy"), ("pickle.npz", b"\x80\x04K\x01.")])
def test_a_protocol_file_that_is_no_npz_archive_says_so(tmp_path, name, content):
    """Probe: `charclf label-audit --protocol-file some.png` said the file "contains pickled (object) data"."""
    path = tmp_path / name
    if content == "npy":
        np.save(path, np.arange(3))
    else:
        path.write_bytes(content)
    with pytest.raises(DataError, match=r"is not a readable \.npz index file \(not a zip/\.npz archive: it begins b") \
            as info:
        load_holdout_indices(path, 100)
    assert info.value.path == path and "pickled" not in str(info.value)
    assert "pass a holdout index .npz made by charclf.data.make_holdout_split" in info.value.fix
