"""The copies of EMNIST users already have: torchvision's ``<root>/EMNIST/raw/`` and the CSV files
``emnist-<split>-<part>.csv``. Each must load the same arrays as NIST's own files."""
from __future__ import annotations

import numpy as np
import pytest
from synth import expected, official_files, write_loose, write_zip

from charclf.data import load_data, load_official, runnable_protocols, verify_data_dir
from charclf.data.idx import read_idx, write_idx
from charclf.data.official import FIRST_LABEL, csv_file, official_file, read_emnist_csv
from charclf.errors import DataError


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CHARCLF_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("CHARCLF_DATA_DIR", raising=False)


def write_csv(path, images_stored: np.ndarray, official_labels: np.ndarray, *, header: bool = False):
    """A CSV copy as the widespread ones are: per row the official label, then the 784 stored (transposed)
    pixels."""
    table = np.concatenate([official_labels.reshape(-1, 1), images_stored.reshape(len(images_stored), -1)], 1)
    lines = [",".join(["label"] + [f"pixel{i}" for i in range(784)])] if header else []
    lines += [",".join(map(str, row)) for row in table.tolist()]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def csv_copy(folder, split: str, part: str, n: int, **kw):
    images, labels = expected(split, part, n=n)
    stored = np.ascontiguousarray(images.transpose(0, 2, 1))
    return write_csv(folder / csv_file(split, part), stored, (labels + FIRST_LABEL.get(split, 0)).astype(np.uint8),
                     **kw)


# ----------------------------------------------------------------------------------------------- torchvision
@pytest.mark.parametrize("layout", ["raw", "gz", "gzip-subfolder", "zip"])
def test_torchvision_layout(tmp_path, layout):
    files = official_files(("digits",), n=50)
    raw = tmp_path / "root" / "EMNIST" / "raw"
    if layout == "zip":  # torchvision downloads gzip.zip into raw/ before extracting it
        write_zip(raw / "gzip.zip", files)
    else:
        write_loose(raw / "gzip" if layout == "gzip-subfolder" else raw, files, raw=layout == "raw")
    for part in ("train", "test"):
        images, labels = load_official("digits", part, tmp_path / "root")
        want_images, want_labels = expected("digits", part, n=50)
        np.testing.assert_array_equal(images, want_images)
        np.testing.assert_array_equal(labels, want_labels)
    assert len(load_data("digits", "official", tmp_path / "root").test) == 50


# ------------------------------------------------------------------------------------------------------ CSV
@pytest.mark.parametrize("split", ["byclass", "letters"])
def test_csv_copies_load_like_the_idx_files(tmp_path, split):
    for part in ("train", "test"):
        csv_copy(tmp_path / "root", split, part, n=130)
    for part in ("train", "test"):
        images, labels = load_official(split, part, tmp_path / "root")
        want_images, want_labels = expected(split, part, n=130)
        assert images.dtype == np.uint8 and labels.dtype == np.int64
        np.testing.assert_array_equal(images, want_images)  # upright: transposed like the idx files
        np.testing.assert_array_equal(labels, want_labels)  # Letters: 1..26 -> 0..25
    again = load_official(split, "test", tmp_path / "root")  # from the .npy cache this time
    np.testing.assert_array_equal(again[0], images)


def test_csv_in_the_emnist_folder_with_a_header_row_and_verify_lists_it(tmp_path):
    root = tmp_path / "root"
    csv_copy(root / "emnist", "digits", "test", n=40, header=True)
    np.testing.assert_array_equal(load_official("digits", "test", root)[1], expected("digits", "test", n=40)[1])
    table = verify_data_dir(root).set_index(["dataset", "part", "kind"])
    assert table.loc[("digits", "test", "images"), "status"] == "unverified"
    assert table.loc[("digits", "test", "labels"), "layout"] == "csv"
    assert table.loc[("digits", "train", "images"), "status"] == "missing"
    runnable = runnable_protocols(table.reset_index()).set_index(["dataset", "protocol"])
    assert not runnable.loc[("digits", "official"), "runnable"]


def test_idx_files_win_over_a_csv_copy(tmp_path):
    root = tmp_path / "root"
    write_loose(root / "emnist", official_files(("digits",), parts=("test",), n=40))
    (root / "emnist" / csv_file("digits", "test")).write_text("not read\n")
    assert len(load_official("digits", "test", root)[1]) == 40


@pytest.mark.parametrize("text, problem", [
    ("1,2,3,4\n", "has 4 columns, expected 785"),
    ("1," + ",".join(["300"] * 784) + "\n", "row 1 has a value outside 0..255"),
    ("1," + ",".join(["x"] * 784) + "\n", "not a numeric EMNIST CSV"),
    ("", "not a numeric EMNIST CSV"),
])
def test_bad_csv_copies(tmp_path, text, problem):
    path = tmp_path / csv_file("digits", "test")
    path.write_text(text)
    with pytest.raises(DataError, match=problem) as info:
        load_official("digits", "test", tmp_path)
    assert info.value.path == path and "\n" not in str(info.value)


def test_csv_labels_outside_the_mapping_are_refused(tmp_path):
    images, _ = expected("digits", "test", n=5)
    write_csv(tmp_path / csv_file("digits", "test"), images, np.full(5, 12, np.uint8))
    with pytest.raises(DataError, match="labels run 12..12, outside 0..9"):
        load_official("digits", "test", tmp_path)


# ------------------------------------------------------------------------------------------------ real data
@pytest.fixture(scope="module")
def real_test(real_data_dir):
    folder = real_data_dir / "emnist"
    return (read_idx(folder / official_file("byclass", "test", "images")),
            read_idx(folder / official_file("byclass", "test", "labels")))


@pytest.mark.slow  # the whole official ByClass test file, rewritten
@pytest.mark.realdata
def test_real_byclass_test_in_torchvision_layout(real_data_dir, real_test, tmp_path):
    reference = real_test[0].transpose(0, 2, 1), real_test[1].astype(np.int64)  # what the idx reader gives
    for form in ("gz", "raw"):
        raw = tmp_path / form / "EMNIST" / "raw"
        raw.mkdir(parents=True)
        for kind in ("images", "labels"):
            name = official_file("byclass", "test", kind)
            if form == "gz":
                (raw / name).symlink_to(real_data_dir / "emnist" / name)
            else:  # torchvision un-gzips the members: the same idx bytes, without gzip
                write_idx(raw / name[:-3], real_test[0] if kind == "images" else real_test[1], compress=False)
        images, labels = load_official("byclass", "test", tmp_path / form, cache=False)
        assert np.array_equal(images, reference[0])  # (assert_array_equal takes seconds at this size)
        assert np.array_equal(labels, reference[1])


@pytest.mark.slow  # the whole official ByClass test file as CSV
@pytest.mark.realdata
def test_real_byclass_test_as_csv(real_data_dir, real_test, tmp_path):
    # A 2,000-row slice of the real file as CSV (the whole file would be 190 MB of text).
    stored, labels = real_test
    n = 2000
    write_csv(tmp_path / csv_file("byclass", "test"), stored[:n], labels[:n])
    images, got = load_official("byclass", "test", tmp_path)
    reference = load_official("byclass", "test", real_data_dir, cache=False)  # the idx reader
    np.testing.assert_array_equal(images, reference[0][:n])
    np.testing.assert_array_equal(got, reference[1][:n])
    parsed, raw_labels = read_emnist_csv(tmp_path / csv_file("byclass", "test"))
    np.testing.assert_array_equal(parsed, stored[:n])  # stored transposed, exactly like the idx file
    np.testing.assert_array_equal(raw_labels, labels[:n])
