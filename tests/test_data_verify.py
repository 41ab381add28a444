"""verify_data_dir / runnable_protocols / `charclf data verify` on synthetic data directories."""
from __future__ import annotations

import pytest
from synth import make_emnist_dir, mnist_files, mnist_md5_table, official_files, sha256_table

from charclf.apps.cli import main
from charclf.data import runnable_protocols, verify_data_dir
from charclf.data.official import OFFICIAL_SHA256, official_file


def _status(table, file):
    return table.set_index("file").loc[file, "status"]


def _runnable(protocols):
    return {(r.dataset, r.protocol) for r in protocols.itertuples() if r.runnable}


@pytest.fixture(scope="module")
def tables():
    """Checksum tables for the synthetic files (what the official ones are for NIST's)."""
    sha = dict(OFFICIAL_SHA256, **sha256_table(official_files(n=130)))
    return sha, mnist_md5_table(mnist_files())


@pytest.mark.parametrize("layout", ["gz", "zip"])
def test_every_file_ok_when_checksums_match(tmp_path, tables, layout):
    sha, md5 = tables
    root = make_emnist_dir(tmp_path, layout=layout, holdout=True)
    table = verify_data_dir(root, sha256=sha, mnist_md5=md5)
    assert len(table) >= 24 + 6 + 4 + 1
    assert set(table["status"]) == {"ok"}, table[table.status != "ok"]
    assert set(table.loc[table.kind.isin(["images", "labels"]) & (table.dataset != "classic-mnist"),
                         "layout"]) == {layout}
    runnable = _runnable(runnable_protocols(table))
    assert runnable == {(d, p) for d in ("byclass", "bymerge", "balanced", "letters", "digits", "mnist",
                                         "classic-mnist") for p in ("official", "holdout")}


def test_synthetic_files_mismatch_the_official_checksums(tmp_path):
    root = make_emnist_dir(tmp_path, splits=("digits",), holdout=True)
    table = verify_data_dir(root)
    name = official_file("digits", "test", "images")
    assert _status(table, name) == "mismatch"
    assert "differs from the official" in table.set_index("file").loc[name, "note"]
    assert _status(table, "t10k-images-idx3-ubyte.gz") == "mismatch"
    assert _status(table, official_file("byclass", "test", "images")) == "missing"
    assert _runnable(runnable_protocols(table)) == set()  # files that are not official never count


def test_raw_files_are_unverified_but_usable(tmp_path):
    root = make_emnist_dir(tmp_path, splits=("letters",), layout="raw", mnist=False, holdout=True)
    table = verify_data_dir(root)
    assert _status(table, official_file("letters", "train", "images")) == "unverified"
    assert _status(table, "letters-test-holdout.npz") == "ok"
    assert _status(table, "emnist-letters-mapping.txt") == "ok"
    assert _runnable(runnable_protocols(table)) == {("letters", "official"), ("letters", "holdout")}


def test_damaged_files_are_reported(tmp_path):
    root = make_emnist_dir(tmp_path, splits=("digits",), layout="raw", mnist=False)
    path = root / "emnist" / official_file("digits", "test", "images")[:-3]
    path.write_bytes(path.read_bytes()[:-5])
    (root / "emnist" / "emnist-digits-mapping.txt").write_text("0 48\n1 50\n")  # not the official mapping
    table = verify_data_dir(root)
    assert _status(table, official_file("digits", "test", "images")) == "damaged"
    assert "truncated" in table.set_index("file").loc[official_file("digits", "test", "images"), "note"]
    assert _status(table, "emnist-digits-mapping.txt") == "mismatch"
    assert ("digits", "official") not in _runnable(runnable_protocols(table))


def test_holdout_index_that_does_not_fit_the_test_file(tmp_path):
    root = make_emnist_dir(tmp_path, splits=("byclass",), layout="raw", mnist=False, n=70, holdout=True)
    other = make_emnist_dir(tmp_path / "big", splits=("byclass",), layout="raw", mnist=False, n=400, holdout=True)
    (root / "protocols" / "byclass-test-holdout.npz").write_bytes(
        (other / "protocols" / "byclass-test-holdout.npz").read_bytes())
    table = verify_data_dir(root)
    assert _status(table, "byclass-test-holdout.npz") == "damaged"
    assert ("byclass", "holdout") not in _runnable(runnable_protocols(table))


def test_cli_verify_exit_codes(tmp_path, capsys):
    good = make_emnist_dir(tmp_path / "good", splits=("digits",), layout="raw", mnist=False)
    assert main(["data", "verify", "--data-dir", str(good)]) == 0
    out = capsys.readouterr().out
    # a raw copy is shown under its name on disk (the official name without .gz)
    assert "digits/official" in out and "unverified" in out and official_file("digits", "test", "images") not in out
    assert official_file("digits", "test", "images").removesuffix(".gz") in out
    (tmp_path / "empty").mkdir()
    assert main(["data", "verify", "--data-dir", str(tmp_path / "empty")]) == 1
    assert "no protocol can run" in capsys.readouterr().out
    assert main(["data", "verify", "--data-dir", str(tmp_path / "nowhere")]) == 1
    out = capsys.readouterr().out
    assert "does not exist" in out and "charclf data download" in out
    afile = tmp_path / "file"
    afile.write_text("x")
    assert main(["data", "verify", "--data-dir", str(afile)]) == 2
    assert "is a file" in capsys.readouterr().err


def test_cli_data_without_action_prints_help(capsys):
    assert main(["data"]) == 2
    assert "verify" in capsys.readouterr().out


def test_check_sha256_raises_checksum_error_naming_the_file():
    from charclf.data import check_sha256
    from charclf.errors import ChecksumError

    check_sha256(b"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", name="abc.gz")
    with pytest.raises(ChecksumError, match="abc.gz: sha256 is ba7816bf.*official value is 0000") as info:
        check_sha256(b"abc", "0" * 64, name="abc.gz")
    assert "download" in info.value.fix


def test_a_bad_labels_file_does_not_make_its_intact_holdout_index_damaged(tmp_path, tables):
    """Issue 35 case 12: the labels file's damage is reported on its row; the index file (which a user might
    otherwise delete) is 'unverified', not 'damaged'."""
    sha, md5 = tables
    root = make_emnist_dir(tmp_path, splits=("digits",), mnist=False, holdout=True)
    labels = root / "emnist" / official_file("digits", "test", "labels")
    labels.write_bytes(labels.read_bytes()[:40])  # truncated
    table = verify_data_dir(root, sha256=sha, mnist_md5=md5)
    assert _status(table, labels.name) in ("damaged", "mismatch")
    index = table.set_index("file").loc["digits-test-holdout.npz"]
    assert index.status == "unverified" and "test labels file is unusable (see its row)" in index.note


@pytest.mark.realdata
@pytest.mark.slow  # gzips the 90 MB ByClass test file twice
def test_loading_refuses_an_official_file_whose_bytes_are_not_nists(real_data_dir, tmp_path, nist_content_checked):
    """Probe: an un-gzipped ByClass test file with pixels inverted loaded on its structure alone, and evaluate
    recorded 49.74% for a run as if it were EMNIST. Loading now checks the bytes, raw or gzip, against NIST's."""
    import gzip

    from charclf.data.official import load_official
    from charclf.errors import ChecksumError

    emnist = tmp_path / "emnist"
    emnist.mkdir()
    name = "emnist-byclass-test-images-idx3-ubyte"
    raw = bytearray(gzip.decompress((real_data_dir / "emnist" / f"{name}.gz").read_bytes()))
    for other in ("emnist-byclass-test-labels-idx1-ubyte.gz", "emnist-byclass-mapping.txt"):
        (emnist / other).write_bytes((real_data_dir / "emnist" / other).read_bytes())
    (emnist / name).write_bytes(bytes(raw))  # NIST's bytes, un-gzipped: they load
    assert load_official("byclass", "test", tmp_path, cache=False)[0].shape == (116323, 28, 28)
    raw[16:16 + 784] = bytes(255 - b for b in raw[16:16 + 784])  # one image inverted: the structure still holds
    (emnist / name).write_bytes(bytes(raw))
    with pytest.raises(ChecksumError, match=rf"{name}: is not NIST's file: sha256 of the idx data .* differs "
                                            "from NIST's file, uncompressed"):
        load_official("byclass", "test", tmp_path, cache=False)
    table = verify_data_dir(tmp_path)  # verify says what loading does: not usable, so no protocol runs
    row = table[(table["dataset"] == "byclass") & (table["part"] == "test") & (table["kind"] == "images")].iloc[0]
    assert row["status"] == "mismatch" and not runnable_protocols(table)["runnable"].any()
    (emnist / name).unlink()
    (emnist / f"{name}.gz").write_bytes(gzip.compress(bytes(raw)))  # the same change, gzipped again
    with pytest.raises(ChecksumError, match="differs from NIST's file, uncompressed"):
        load_official("byclass", "test", tmp_path, cache=True)
    # NIST's data gzipped again (another mirror's wrapper): the content decides, it loads
    (emnist / f"{name}.gz").write_bytes(gzip.compress(gzip.decompress((real_data_dir / "emnist" / f"{name}.gz")
                                                                      .read_bytes()), mtime=0))
    assert load_official("byclass", "test", tmp_path, cache=False)[0].shape == (116323, 28, 28)


def test_verify_names_the_damaged_file_that_stops_every_protocol(tmp_path, capsys):
    """Probe: with one damaged file the summary said "none of the needed files is usable" and told the user to
    pass another folder."""
    good = make_emnist_dir(tmp_path / "d", splits=("digits",), layout="raw", mnist=False)
    raw = next(good.rglob(official_file("digits", "test", "images").removesuffix(".gz")))
    raw.write_bytes(raw.read_bytes()[: len(raw.read_bytes()) // 2])
    assert main(["data", "verify", "--data-dir", str(good)]) == 1
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert f"a file each protocol needs is damaged or not NIST's: {raw.name} (damaged)" in last
    assert "Fix: replace the files named with NIST's" in last


def test_a_file_loaded_once_under_the_mirror_allowance_is_checked_again_at_every_load(tmp_path, monkeypatch,
                                                                                      nist_content_checked):
    """Probe: loaded once with $CHARCLF_ALLOW_NON_NIST_MIRROR=1 (a warning), the decoded arrays were cached by
    content, so every later load, without the allowance, used them unchecked and said nothing."""
    from charclf.data.official import load_official
    from charclf.errors import ChecksumError

    monkeypatch.setenv("CHARCLF_CACHE_DIR", str(tmp_path / "cache"))
    root = make_emnist_dir(tmp_path / "d", splits=("digits",), mnist=False)  # synthetic: not NIST's bytes
    monkeypatch.setenv("CHARCLF_ALLOW_NON_NIST_MIRROR", "1")
    with pytest.warns(UserWarning, match="loaded anyway"):
        load_official("digits", "test", root, cache=True)
    with pytest.warns(UserWarning, match="loaded anyway"):  # warned again: nothing was cached to skip the check
        load_official("digits", "test", root, cache=True)
    monkeypatch.delenv("CHARCLF_ALLOW_NON_NIST_MIRROR")
    with pytest.raises(ChecksumError, match="is not NIST's file"):
        load_official("digits", "test", root, cache=True)
    assert not list((tmp_path / "cache").rglob("*.npy"))
