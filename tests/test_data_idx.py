"""The idx reader/writer: round trips in every form, and a clear DataError for every kind of damage."""
from __future__ import annotations

import gzip

import numpy as np
import pytest

from charclf.data.idx import gunzip, idx_bytes, parse_idx, read_idx, write_idx
from charclf.errors import DataError


@pytest.fixture
def images():
    return np.random.default_rng(0).integers(0, 256, size=(7, 28, 28), dtype=np.uint8)


@pytest.mark.parametrize("suffix", [".gz", ""])
def test_round_trip_path(tmp_path, images, suffix):
    path = write_idx(tmp_path / f"x-idx3-ubyte{suffix}", images)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == (suffix == ".gz")
    np.testing.assert_array_equal(read_idx(path), images)
    labels = np.arange(7, dtype=np.uint8)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / f"y-idx1-ubyte{suffix}", labels)), labels)


def test_round_trip_bytes_sniffs_gzip(images):
    raw = idx_bytes(images)
    assert raw[:4] == b"\x00\x00\x08\x03" and int.from_bytes(raw[4:8], "big") == 7
    np.testing.assert_array_equal(read_idx(raw), images)
    np.testing.assert_array_equal(read_idx(gzip.compress(raw)), images)


def test_write_is_atomic_and_leaves_no_temp_files(tmp_path, images):
    write_idx(tmp_path / "a.gz", images)
    write_idx(tmp_path / "a.gz", images[:2])  # overwrite
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.gz"]
    assert read_idx(tmp_path / "a.gz").shape == (2, 28, 28)


def _error(source, **kw) -> DataError:
    with pytest.raises(DataError) as info:
        read_idx(source, **kw)
    return info.value


def test_truncated_gz_names_file_problem_and_fix(tmp_path, images):
    path = write_idx(tmp_path / "t-idx3-ubyte.gz", images)
    path.write_bytes(path.read_bytes()[:-200])
    err = _error(path)
    assert err.path == path and "truncated" in str(err) and "Fix:" in str(err)


def test_not_gzip_under_gz_name(tmp_path, images):
    path = tmp_path / "n-idx3-ubyte.gz"
    path.write_bytes(idx_bytes(images))  # raw data with a .gz name
    err = _error(path)
    assert "not a gzip file" in err.problem and err.path == path


def test_damaged_gzip_stream(images):
    data = bytearray(gzip.compress(idx_bytes(images)))
    data[20:60] = b"\xff" * 40
    with pytest.raises(DataError, match="damaged|truncated"):
        gunzip(bytes(data), name="x.gz")


@pytest.mark.parametrize("magic, message", [
    (b"\x00\x00\x08\x02", "magic 0x00000802"),   # 2 dims: not an MNIST idx
    (b"\x01\x00\x08\x03", "magic 0x01000803"),   # not idx at all
    (b"\x00\x00\x0d\x03", "dtype byte 0x0d"),    # float32 idx: not what MNIST ships
])
def test_wrong_magic_or_dtype(images, magic, message):
    raw = magic + idx_bytes(images)[4:]
    err = _error(raw, name="bad-idx3-ubyte")
    assert message in err.problem and str(err.path) == "bad-idx3-ubyte"


def test_wrong_number_of_dims_for_the_role(images):
    with pytest.raises(DataError, match="labels file"):
        read_idx(idx_bytes(images), expect_ndim=1)
    with pytest.raises(DataError, match="images file"):
        read_idx(idx_bytes(np.zeros(5, np.uint8)), expect_ndim=3)


@pytest.mark.parametrize("cut, what", [(-10, "truncated"), (+3, "longer than its header says")])
def test_payload_size_must_match_header(images, cut, what):
    raw = idx_bytes(images)
    raw = raw[:cut] if cut < 0 else raw + b"\x00" * cut
    err = _error(raw)
    assert what in err.problem and "(7, 28, 28)" in err.problem


def test_too_short_and_missing_and_directory(tmp_path):
    assert "too short" in _error(b"\x00\x00").problem
    assert "does not exist" in _error(tmp_path / "nope.gz").problem
    assert "directory" in _error(tmp_path).problem


def test_parse_returns_view_without_copy(images):
    raw = idx_bytes(images)
    arr = parse_idx(raw)
    assert arr.base is not None and not arr.flags.writeable  # a view on the bytes: no per-image Python work
