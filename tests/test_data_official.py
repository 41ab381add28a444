"""Loading official-format files (synthetic): every split, every layout, orientation, labels, cache, bad input."""
from __future__ import annotations

import gzip
import os
import zipfile

import numpy as np
import pytest
from synth import (
    BAR_COL,
    BAR_ROWS,
    BAR_VALUE,
    MARKER_OFFSET,
    expected,
    gz,
    make_emnist_dir,
    mapping_text,
    official_files,
    write_loose,
    write_zip,
)

from charclf.data import cache as cache_mod
from charclf.data import idx as idx_mod
from charclf.data.idx import idx_bytes
from charclf.data.official import (
    OFFICIAL_MAPPINGS,
    SPLITS,
    Located,
    load_mapping,
    load_mnist,
    load_official,
    official_file,
    resolve_data_dir,
)
from charclf.errors import DataError, UnknownNameError


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CHARCLF_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("CHARCLF_DATA_DIR", raising=False)
    return tmp_path / "cache"


@pytest.fixture(scope="module", params=["gz", "raw", "zip"])
def every_split_dir(request, tmp_path_factory):
    return make_emnist_dir(tmp_path_factory.mktemp(request.param), layout=request.param)


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("part", ["train", "test"])
def test_every_split_and_layout_loads_upright_and_labelled(every_split_dir, split, part):
    images, labels = load_official(split, part, every_split_dir)
    want_images, want_labels = expected(split, part)
    assert images.dtype == np.uint8 and images.shape == want_images.shape and labels.dtype == np.int64
    np.testing.assert_array_equal(labels, want_labels)  # 0-based (Letters shifted from 1..26)
    np.testing.assert_array_equal(images, want_images)  # upright: equals what was drawn before NIST's transpose
    assert load_mapping(split, every_split_dir) == OFFICIAL_MAPPINGS[split]


def test_orientation_marker_is_where_upright_images_have_it(every_split_dir):
    images, labels = load_official("byclass", "test", every_split_dir, cache=False)
    # A loader that forgot the transpose would find the marker at (27, 0) and the bar in row BAR_COL.
    np.testing.assert_array_equal(images[:, 0, 27], MARKER_OFFSET + labels)
    assert (images[:, BAR_ROWS, BAR_COL] == BAR_VALUE).all()
    assert not (images[:, BAR_COL, BAR_ROWS] == BAR_VALUE).all()


def test_letters_labels_are_shifted_to_zero_based(tmp_path):
    root = make_emnist_dir(tmp_path, splits=("letters",), mnist=False)
    with gzip.open(root / "emnist" / official_file("letters", "test", "labels")) as fh:
        official = np.frombuffer(fh.read()[8:], np.uint8)
    _, labels = load_official("letters", "test", root)
    assert official.min() == 1 and official.max() == 26
    np.testing.assert_array_equal(labels, official.astype(np.int64) - 1)
    assert load_mapping("letters", root)[0] == "A" and len(load_mapping("letters", root)) == 26


@pytest.mark.parametrize("layout", ["gz", "raw"])
def test_classic_mnist_is_not_transposed(tmp_path, layout):
    root = make_emnist_dir(tmp_path, splits=(), layout=layout)
    images, labels = load_mnist("train", root)
    want_images, want_labels = expected("classic-mnist", "train")
    np.testing.assert_array_equal(images, want_images)
    np.testing.assert_array_equal(labels, want_labels)
    assert images.flags.writeable


def test_files_found_in_root_gzip_folder_and_root_zip(tmp_path):
    files = official_files(("digits",), n=30, mapping=False)
    write_loose(tmp_path / "a" / "gzip", files)
    write_zip(tmp_path / "b" / "gzip.zip", files)
    write_loose(tmp_path / "c", files, raw=True)
    for sub in "abc":
        images, labels = load_official("digits", "train", tmp_path / sub)
        np.testing.assert_array_equal(labels, expected("digits", "train", n=30)[1])
    # no mapping file anywhere: the built-in official mapping is used
    assert load_mapping("digits", tmp_path / "a") == tuple("0123456789")


def test_zip_is_read_in_place_without_extracting(tmp_path):
    root = make_emnist_dir(tmp_path / "d", splits=("balanced",), layout="zip", mnist=False)
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    load_official("balanced", "test", root)
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before


def test_resolve_data_dir_order(tmp_path, monkeypatch):
    assert resolve_data_dir(tmp_path) == tmp_path
    monkeypatch.setenv("CHARCLF_DATA_DIR", str(tmp_path / "env"))
    assert resolve_data_dir() == tmp_path / "env"
    assert resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"


# ---------------------------------------------------------------------------------------------- cache
def test_second_load_comes_from_the_cache(tmp_path, private_cache, monkeypatch):
    root = make_emnist_dir(tmp_path / "d", splits=("byclass",), mnist=False)
    first = load_official("byclass", "test", root)
    assert len(list((private_cache / "idx").glob("*.npy"))) == 2  # images + labels

    def no_decoding(*args, **kwargs):
        raise AssertionError("the source was decoded again although the cache is fresh")

    monkeypatch.setattr(Located, "read_array", no_decoding)
    second = load_official("byclass", "test", root)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


def test_replacing_a_source_file_invalidates_its_cache(tmp_path, private_cache):
    root = make_emnist_dir(tmp_path / "d", splits=("digits",), mnist=False, n=20)
    load_official("digits", "test", root)
    # Replace the images with other (valid) ones: different size and mtime -> the cache must not be used.
    new_images = np.full((20, 28, 28), 7, np.uint8)
    path = root / "emnist" / official_file("digits", "test", "images")
    path.write_bytes(gz(idx_bytes(new_images)))
    os.utime(path, ns=(1, 1))
    images, _ = load_official("digits", "test", root)
    assert (images == 7).all()
    # keyed on content: the old entry is another key, left to the size-bounded eviction (test_bad_input)
    assert len(list((private_cache / "idx").glob("upright.*.npy"))) == 2


def test_damaged_cache_file_is_rebuilt(tmp_path, private_cache):
    root = make_emnist_dir(tmp_path / "d", splits=("digits",), mnist=False, n=20)
    want = load_official("digits", "test", root)[0]
    for f in (private_cache / "idx").glob("upright.*.npy"):
        f.write_bytes(b"garbage")
    np.testing.assert_array_equal(load_official("digits", "test", root)[0], want)


def test_unwritable_cache_dir_is_silently_skipped(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache folder would go")
    monkeypatch.setenv("CHARCLF_CACHE_DIR", str(blocker))
    root = make_emnist_dir(tmp_path / "d", splits=("digits",), mnist=False, n=20)
    images, labels = load_official("digits", "test", root)
    assert len(images) == 20 and cache_mod.cache_dir() == blocker


def test_cache_false_writes_nothing(tmp_path, private_cache):
    root = make_emnist_dir(tmp_path / "d", splits=("digits",), mnist=False, n=20)
    load_official("digits", "test", root, cache=False)
    assert not private_cache.exists()


# ------------------------------------------------------------------------------------------ bad input
def _load_error(*args, **kwargs) -> DataError:
    with pytest.raises(DataError) as info:
        load_official(*args, **kwargs)
    assert "Fix:" in str(info.value)
    return info.value


def _digits_dir(tmp_path, n=20):
    return make_emnist_dir(tmp_path / "d", splits=("digits",), mnist=False, n=n)


def test_truncated_gz_file(tmp_path):
    root = _digits_dir(tmp_path)
    path = root / "emnist" / official_file("digits", "test", "images")
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    err = _load_error("digits", "test", root)
    assert err.path == path and "truncated" in err.problem


def test_not_gzip(tmp_path):
    root = _digits_dir(tmp_path)
    path = root / "emnist" / official_file("digits", "test", "labels")
    path.write_text("<html>404 Not Found</html>")  # what a failed download often leaves behind
    err = _load_error("digits", "test", root)
    assert err.path == path and "not a gzip file" in err.problem


def test_wrong_idx_magic(tmp_path):
    root = _digits_dir(tmp_path)
    path = root / "emnist" / official_file("digits", "test", "images")
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[3] = 0x02
    path.write_bytes(gzip.compress(bytes(raw)))
    err = _load_error("digits", "test", root)
    assert err.path == path and "magic 0x00000802" in err.problem


def test_wrong_image_dims(tmp_path):
    root = _digits_dir(tmp_path)
    path = root / "emnist" / official_file("digits", "test", "images")
    path.write_bytes(gz(idx_bytes(np.zeros((20, 28, 27), np.uint8))))
    err = _load_error("digits", "test", root)
    assert err.path == path and "expected 28x28" in err.problem


def test_images_and_labels_swapped(tmp_path):
    root = _digits_dir(tmp_path)
    folder = root / "emnist"
    img, lab = (folder / official_file("digits", "test", k) for k in ("images", "labels"))
    data_img, data_lab = img.read_bytes(), lab.read_bytes()
    img.write_bytes(data_lab)
    lab.write_bytes(data_img)
    err = _load_error("digits", "test", root)
    assert "expected" in err.problem and ("labels file" in err.problem or "images file" in err.problem)


def test_image_label_count_mismatch(tmp_path):
    root = _digits_dir(tmp_path)
    lab = root / "emnist" / official_file("digits", "test", "labels")
    lab.write_bytes(gz(idx_bytes(np.zeros(19, np.uint8))))
    err = _load_error("digits", "test", root)
    assert "20 images" in err.problem and "19 labels" in err.problem and str(lab) in err.problem


def test_labels_out_of_range_for_the_mapping(tmp_path):
    root = _digits_dir(tmp_path)
    lab = root / "emnist" / official_file("digits", "test", "labels")
    labels = np.arange(20, dtype=np.uint8) % 10
    labels[3] = 12  # digits has 10 classes
    lab.write_bytes(gz(idx_bytes(labels)))
    err = _load_error("digits", "test", root)
    assert err.path == lab and "0..12" in err.problem and "10-class mapping" in err.problem


def test_letters_label_zero_is_out_of_range(tmp_path):
    root = make_emnist_dir(tmp_path, splits=("letters",), mnist=False, n=30)
    lab = root / "emnist" / official_file("letters", "test", "labels")
    lab.write_bytes(gz(idx_bytes(np.arange(30, dtype=np.uint8) % 26)))  # 0-based by mistake
    assert "outside 1..26" in _load_error("letters", "test", root).problem


def test_missing_files_say_where_and_how(tmp_path):
    root = _digits_dir(tmp_path)
    (root / "emnist" / official_file("digits", "train", "labels")).unlink()
    err = _load_error("digits", "train", root)
    assert "not found" in err.problem and "charclf data download" in err.fix
    assert official_file("digits", "train", "labels") in str(err)
    err = _load_error("digits", "test", tmp_path / "does-not-exist")
    assert "does not exist" in err.problem


def test_zip_without_the_expected_members(tmp_path):
    files = official_files(("digits",), n=20)
    write_zip(tmp_path / "emnist" / "gzip.zip", files, folder="other/")
    err = _load_error("digits", "test", tmp_path)
    assert err.path == tmp_path / "emnist" / "gzip.zip" and "no member gzip/" in err.problem


def test_zip_that_is_not_a_zip(tmp_path):
    (tmp_path / "emnist").mkdir()
    (tmp_path / "emnist" / "gzip.zip").write_bytes(b"PK\x03\x04 but then nothing")
    err = _load_error("digits", "test", tmp_path)
    assert "not a readable zip" in err.problem


def test_zip_member_with_bad_crc(tmp_path):
    files = official_files(("digits",), n=20)
    path = write_zip(tmp_path / "gzip.zip", files)
    # Flip bytes inside the stored data of the images member; the zip CRC check must catch it.
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("gzip/" + official_file("digits", "test", "images"))
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 10
    data[start:start + 8] = bytes(b ^ 0xFF for b in data[start:start + 8])
    path.write_bytes(bytes(data))
    err = _load_error("digits", "test", tmp_path, cache=False)
    assert "gzip.zip[gzip/" in str(err.path) and "CRC" in err.problem


def test_data_dir_that_is_a_file(tmp_path):
    f = tmp_path / "data.txt"
    f.write_text("oops")
    err = _load_error("byclass", "test", f)
    assert err.path == f and "is a file" in err.problem


def test_bad_mapping_file(tmp_path):
    root = _digits_dir(tmp_path)
    (root / "emnist" / "emnist-digits-mapping.txt").write_text("0 48\n1 forty-nine\n")
    err = _load_error("digits", "test", root)
    assert "line 2" in err.problem


def test_unknown_split_and_part():
    with pytest.raises(UnknownNameError, match="byclass"):
        load_official("byclas", "test")
    with pytest.raises(UnknownNameError, match="train"):
        load_official("byclass", "validation")


def test_mapping_text_in_nist_format():
    assert mapping_text("letters").splitlines()[0] == "1 65 97"
    assert mapping_text("byclass").splitlines()[61] == "61 122"


def test_idx_read_is_vectorised(monkeypatch):
    # Guard the speed design: decoding must be one frombuffer, not a Python loop per image.
    calls = []
    real = np.frombuffer
    monkeypatch.setattr(idx_mod.np, "frombuffer", lambda *a, **k: calls.append(1) or real(*a, **k))
    idx_mod.read_idx(idx_bytes(np.zeros((500, 28, 28), np.uint8)))
    assert len(calls) == 1
