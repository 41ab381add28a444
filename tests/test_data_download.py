"""download_emnist against a local HTTP server serving a synthetic gzip.zip (NIST is never contacted)."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest
from httpmirror import MirrorServer, closed_port_url, manifest
from synth import expected, mnist_files, mnist_md5_table, official_files, sha256_table, write_zip

import charclf.data.download as download
from charclf.apps.cli import main
from charclf.data import NIST_URL, download_emnist, load_data, load_mnist, load_official, verify_archive
from charclf.data.download import (
    ALLOW_ENV,
    MIRRORS_ENV,
    NO_DOWNLOAD_ENV,
    download_mnist,
    downloads_allowed,
    ensure_data,
    missing_files,
    parse_manifest,
)
from charclf.errors import ChecksumError, DataError, DownloadError


class ArchiveServer(MirrorServer):
    """Serves ``archive`` at /gzip.zip (and nothing else: no checksum manifest)."""

    def __init__(self, archive: bytes):
        super().__init__({"/gzip.zip": archive})
        self.url = self.base + "/gzip.zip"


@pytest.fixture(scope="module")
def synthetic():
    files = official_files(("digits",), n=40)
    return files, sha256_table(files)


@pytest.fixture
def archive(tmp_path, synthetic):
    files, _ = synthetic
    return write_zip(tmp_path / "served" / "gzip.zip", files).read_bytes()


@pytest.fixture
def server(archive):
    srv = ArchiveServer(archive)
    yield srv
    srv.close()


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CHARCLF_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv(MIRRORS_ENV, raising=False)


def _get(tmp_path, mirrors, synthetic, archive, **kw):
    _, sha = synthetic
    kw.setdefault("md5", hashlib.md5(archive).hexdigest())
    kw.setdefault("sha256", sha)
    return download_emnist(tmp_path / "data", mirrors, progress=False, **kw)


def test_download_verifies_renames_and_is_readable_in_place(tmp_path, server, synthetic, archive):
    path = _get(tmp_path, [server.url], synthetic, archive)
    assert path == tmp_path / "data" / "emnist" / "gzip.zip" and path.read_bytes() == archive
    assert sorted(p.name for p in path.parent.iterdir()) == ["gzip.zip"]  # no .part left behind
    images, labels = load_official("digits", "test", tmp_path / "data")
    np.testing.assert_array_equal(labels, expected("digits", "test", n=40)[1])
    # an existing verified archive is kept: no second request
    n = len(server.requests)
    assert _get(tmp_path, [server.url], synthetic, archive) == path and len(server.requests) == n


def test_interrupted_download_resumes_with_range(tmp_path, server, synthetic, archive):
    server.mode = "cut"
    with pytest.raises(DownloadError) as info:
        _get(tmp_path, [server.url], synthetic, archive)
    part = tmp_path / "data" / "emnist" / "gzip.zip.part"
    assert not (tmp_path / "data" / "emnist" / "gzip.zip").exists()  # nothing unverified under the real name
    assert 0 < part.stat().st_size < len(archive) and "resumes" in info.value.fix
    have = part.stat().st_size
    server.mode = "full"
    path = _get(tmp_path, [server.url], synthetic, archive)
    assert server.requests[-1]["range"] == f"bytes={have}-"
    assert path.read_bytes() == archive and not part.exists()


def test_server_ignoring_range_restarts_from_zero(tmp_path, server, synthetic, archive):
    part = tmp_path / "data" / "emnist" / "gzip.zip.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(archive[:100])
    server.mode = "ignore-range"
    assert _get(tmp_path, [server.url], synthetic, archive).read_bytes() == archive


def test_stale_part_with_wrong_bytes_is_downloaded_again(tmp_path, server, synthetic, archive):
    part = tmp_path / "data" / "emnist" / "gzip.zip.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"\x00" * 100)  # e.g. left by another archive version
    assert _get(tmp_path, [server.url], synthetic, archive).read_bytes() == archive
    assert [r["range"] for r in server.requests] == ["bytes=100-", None]


def test_md5_mismatch_leaves_nothing(tmp_path, server, synthetic, archive):
    with pytest.raises(ChecksumError, match="md5") as info:
        _get(tmp_path, [server.url], synthetic, archive, md5="0" * 32)
    assert list((tmp_path / "data" / "emnist").iterdir()) == []
    assert "gzip.zip" in str(info.value.path) and "biometrics.nist.gov" in info.value.fix


def test_member_sha256_mismatch(tmp_path, server, synthetic, archive):
    _, sha = synthetic
    bad = dict(sha, **{"emnist-digits-test-images-idx3-ubyte.gz": "f" * 64})
    with pytest.raises(ChecksumError, match="emnist-digits-test-images.*sha256"):
        _get(tmp_path, [server.url], synthetic, archive, sha256=bad)
    assert list((tmp_path / "data" / "emnist").iterdir()) == []


def test_archive_without_expected_members(tmp_path, server, synthetic, archive):
    _, sha = synthetic
    more = dict(sha, **{"emnist-byclass-test-images-idx3-ubyte.gz": "0" * 64})
    with pytest.raises(ChecksumError, match="lacks 1 expected member"):
        _get(tmp_path, [server.url], synthetic, archive, sha256=more)


def test_mirrors_are_tried_in_order(tmp_path, server, synthetic, archive):
    dead = closed_port_url()
    missing = server.url.replace("/gzip.zip", "/moved.zip")
    path = _get(tmp_path, [dead, missing, server.url], synthetic, archive)
    assert path.read_bytes() == archive
    assert [r["path"] for r in server.requests] == ["/moved.zip", "/gzip.zip"]


def test_no_network_fails_fast_with_manual_instructions(tmp_path, synthetic, archive):
    with pytest.raises(DownloadError) as info:
        _get(tmp_path, [closed_port_url()], synthetic, archive, timeout=5)
    err = info.value
    assert "could not get" in err.problem and "refused" in err.problem.lower()
    assert str(tmp_path / "data" / "emnist" / "gzip.zip") in err.fix and "charclf data verify" in err.fix


def test_existing_bad_archive_is_reported_not_overwritten(tmp_path, server, synthetic, archive):
    target = tmp_path / "data" / "emnist" / "gzip.zip"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"not a zip")
    with pytest.raises(ChecksumError, match="already there") as info:
        _get(tmp_path, [server.url], synthetic, archive)
    assert target.read_bytes() == b"not a zip" and "--force" in info.value.fix and not server.requests
    assert _get(tmp_path, [server.url], synthetic, archive, force=True).read_bytes() == archive


def test_cli_download_checks_against_the_official_md5(tmp_path, server, capsys):
    # The CLI has no checksum override: a synthetic archive must be rejected, and nothing kept.
    code = main(["data", "download", "--data-dir", str(tmp_path / "data"), "--mirror", server.url, "--no-progress"])
    assert code == 2 and "md5" in capsys.readouterr().err
    assert list((tmp_path / "data" / "emnist").iterdir()) == []


# ------------------------------------------------------------------------- mirrors with a checksum manifest
@pytest.fixture
def mirror(synthetic, archive, monkeypatch):
    """A mirror of a (synthetic) archive that publishes SHA256SUMS beside it, as a real mirror would. Its data
    is not NIST's, so using it needs the explicit allowance (set here; the refusal tests remove it)."""
    monkeypatch.setenv(ALLOW_ENV, "1")
    files, _ = synthetic
    srv = MirrorServer({"/emnist/gzip.zip": archive, "/emnist/SHA256SUMS": manifest(archive, files)})
    srv.url = srv.base + "/emnist/gzip.zip"
    yield srv
    srv.close()


def test_mirror_is_checked_against_its_manifest_and_flagged_as_not_nist(tmp_path, mirror, archive):
    with pytest.warns(UserWarning, match="not NIST's files"):
        path = download_emnist(tmp_path / "data", [mirror.url], progress=False)
    assert path.read_bytes() == archive
    assert [r["path"] for r in mirror.requests] == ["/emnist/SHA256SUMS", "/emnist/gzip.zip"]
    # the archive it kept is recognised on a re-run (against the same manifest), not reported as bad
    assert download_emnist(tmp_path / "data", [mirror.url], progress=False) == path


def test_mirror_with_other_members_is_refused_unless_allowed(tmp_path, mirror, monkeypatch):
    monkeypatch.delenv(ALLOW_ENV)
    with pytest.raises(DownloadError, match="not NIST's files.*allow-non-nist-mirror"):
        download_emnist(tmp_path / "data", [mirror.url], progress=False)
    assert "/emnist/gzip.zip" not in [r["path"] for r in mirror.requests]  # refused before the download
    assert main(["data", "download", "--data-dir", str(tmp_path / "data"), "--mirror", mirror.url,
                 "--no-progress"]) == 2


def test_a_manifest_listing_only_the_archive_does_not_make_it_verified(tmp_path, mirror, archive, monkeypatch,
                                                                      capsys):
    """Issue 35 case 4: a mirror's SHA256SUMS with only gzip.zip's line proves the mirror self-consistent,
    nothing more: the members are still checked against NIST's pinned sums."""
    monkeypatch.delenv(ALLOW_ENV)
    mirror.files["/emnist/SHA256SUMS"] = f"{hashlib.sha256(archive).hexdigest()}  gzip.zip\n".encode()
    assert main(["data", "download", "--data-dir", str(tmp_path / "data"), "--mirror", mirror.url,
                 "--no-progress"]) == 2
    err = capsys.readouterr()
    assert "verified EMNIST archive (" not in err.out and "could not get a verified EMNIST archive" in err.err
    assert "lacks 20 expected member" in err.err and "--allow-non-nist-mirror" in err.err  # NIST's 24 checked
    assert not (tmp_path / "data" / "emnist" / "gzip.zip").exists()
    with pytest.warns(UserWarning, match="its own SHA256SUMS only"):
        assert main(["data", "download", "--data-dir", str(tmp_path / "data"), "--mirror", mirror.url,
                     "--no-progress", "--allow-non-nist-mirror"]) == 0
    assert "verified EMNIST archive (" not in capsys.readouterr().out


def test_mirror_whose_archive_differs_from_its_manifest_is_refused(tmp_path, mirror, archive, synthetic):
    files, _ = synthetic
    other = dict(files, **{"emnist-digits-test-labels-idx1-ubyte.gz": b"tampered"})
    mirror.files["/emnist/SHA256SUMS"] = manifest(archive, other)
    with pytest.raises(ChecksumError, match="emnist-digits-test-labels.*sha256"):
        download_emnist(tmp_path / "data", [mirror.url], progress=False)
    mirror.files["/emnist/SHA256SUMS"] = manifest(b"another archive", files)
    with pytest.raises(ChecksumError, match="sha256 is"):
        download_emnist(tmp_path / "data", [mirror.url], progress=False)
    assert list((tmp_path / "data" / "emnist").iterdir()) == []  # nothing unverified kept


def test_mirror_without_manifest_must_pass_nists_pinned_checksums(tmp_path, mirror):
    del mirror.files["/emnist/SHA256SUMS"]  # a plain copy: only a byte copy of NIST's archive would pass
    with pytest.raises(ChecksumError, match="md5"):
        download_emnist(tmp_path / "data", [mirror.url], progress=False)


def test_unreadable_manifest_fails_that_mirror_and_the_next_one_is_tried(tmp_path, mirror, archive):
    good = mirror.files["/emnist/SHA256SUMS"]
    mirror.files.update({"/good/gzip.zip": archive, "/good/SHA256SUMS": good,
                         "/emnist/SHA256SUMS": b"this is not a checksum list\n"})
    with pytest.raises(DownloadError, match="is not '<sha256>  <file name>'"):
        download_emnist(tmp_path / "data", [mirror.url], progress=False)
    assert "/emnist/gzip.zip" not in [r["path"] for r in mirror.requests]  # unverifiable: never downloaded
    with pytest.warns(UserWarning):
        path = download_emnist(tmp_path / "data", [mirror.url, mirror.base + "/good/gzip.zip"], progress=False)
    assert path.read_bytes() == archive


@pytest.mark.parametrize("text, archive_sha, members", [
    (f"{'a' * 64}  gzip.zip\n{'b' * 64}  gzip/emnist-x.gz\n", "a" * 64, {"emnist-x.gz": "b" * 64}),
    (f"# comment\n{'C' * 64} *./emnist-y.gz\n", None, {"emnist-y.gz": "c" * 64}),
])
def test_parse_manifest(text, archive_sha, members):
    checks = parse_manifest(text)
    assert (checks.sha256, checks.members, checks.md5) == (archive_sha, members, None)


def test_verification_is_never_switched_off(tmp_path, archive):
    (tmp_path / "a.zip").write_bytes(archive)
    with pytest.raises(ValueError, match="never switched off"):
        verify_archive(tmp_path / "a.zip", md5=None, sha256={})
    with pytest.raises(DownloadError, match="lists neither"):
        parse_manifest("# nothing here\n")


def test_mirrors_from_the_environment(tmp_path, mirror, monkeypatch):
    monkeypatch.setenv(MIRRORS_ENV, f"{closed_port_url()} , {mirror.url}")
    with pytest.warns(UserWarning):
        assert download_emnist(tmp_path / "data", progress=False).is_file()


def test_download_prints_size_and_destination_first(tmp_path, capsys, monkeypatch):
    # NIST itself is never contacted by tests: a fetch that does nothing, and a verification that passes.
    monkeypatch.setattr(download, "_fetch", lambda *a, **k: 0)
    monkeypatch.setattr(download, "_verify", lambda *a, **k: None)
    monkeypatch.setattr(download.os, "replace", lambda *a: None)
    download_emnist(tmp_path / "data", [NIST_URL], progress=False)
    out = capsys.readouterr().out
    assert "~535 MB" in out and NIST_URL in out and str(tmp_path / "data" / "emnist") in out


# ------------------------------------------------------------------------------- download on first use
def test_missing_files_and_ensure_data(tmp_path, mirror, monkeypatch):
    root = tmp_path / "data"
    assert missing_files("digits", "holdout", root) == ["emnist-digits-test-images-idx3-ubyte.gz",
                                                         "emnist-digits-test-labels-idx1-ubyte.gz"]
    assert len(missing_files("digits", "official", root)) == 4
    monkeypatch.setenv(MIRRORS_ENV, mirror.url)
    with pytest.warns(UserWarning):
        assert ensure_data("digits", "official", root, progress=False) == root
    assert missing_files("digits", "official", root) == []
    n = len(mirror.requests)
    ensure_data("digits", "official", root, progress=False)  # nothing missing: no request at all
    assert len(mirror.requests) == n


def test_load_data_downloads_only_when_asked(tmp_path, mirror, monkeypatch):
    root = tmp_path / "data"
    monkeypatch.setenv(MIRRORS_ENV, mirror.url)
    with pytest.raises(DataError, match="does not exist") as info:
        load_data("digits", "official", root)
    assert "download=True" in info.value.fix
    root.mkdir()
    with pytest.raises(DataError, match="official EMNIST file not found") as info:
        load_data("digits", "official", root)
    assert "download=True" in info.value.fix and not mirror.requests
    with pytest.warns(UserWarning):
        bundle = load_data("digits", "official", root, download=True)
    assert len(bundle.test) == 40 and (root / "emnist" / "gzip.zip").is_file()


def test_downloads_allowed(monkeypatch):
    monkeypatch.delenv(NO_DOWNLOAD_ENV, raising=False)
    assert downloads_allowed() and not downloads_allowed(default=False)
    for value, allowed in (("1", False), ("yes", False), ("0", True), ("", True)):
        monkeypatch.setenv(NO_DOWNLOAD_ENV, value)
        assert downloads_allowed() is allowed


def test_setup_downloads_on_first_use_unless_turned_off(tmp_path, mirror, monkeypatch, capsys):
    from charclf.study.notebook import setup

    monkeypatch.setenv(MIRRORS_ENV, mirror.url)
    monkeypatch.setenv(NO_DOWNLOAD_ENV, "1")
    ctx = setup(0, data_dir=tmp_path / "data", protocol="official")
    assert ctx.download is False and "download: off ($CHARCLF_NO_DOWNLOAD)" in capsys.readouterr().out
    ctx.ensure_data("digits")
    assert "downloads are off" in capsys.readouterr().out and not mirror.requests
    with pytest.raises(DataError, match="does not exist"):
        ctx.load_data("digits")
    monkeypatch.delenv(NO_DOWNLOAD_ENV)
    ctx = setup(0, data_dir=tmp_path / "data", protocol="official", quiet=True)
    with pytest.warns(UserWarning):
        ctx.ensure_data("digits")
    assert "the official files are in" in capsys.readouterr().out
    assert len(ctx.load_data("digits", test=None).test) == 40


# ------------------------------------------------------------------------------------- classic MNIST
def test_download_mnist_checks_lecuns_md5_of_the_data(tmp_path):
    files = mnist_files(n=30)
    srv = MirrorServer({f"/mnist/{name}": data for name, data in files.items()})
    try:
        with pytest.raises(DownloadError, match="md5 of the data") as info:
            download_mnist(tmp_path / "data", [srv.base + "/mnist/"], progress=False)  # not LeCun's data
        assert not list((tmp_path / "data" / "mnist").glob("*.gz*"))
        assert "by hand" in info.value.fix
        folder = download_mnist(tmp_path / "data", [closed_port_url("/"), srv.base + "/mnist"], progress=False,
                                md5=mnist_md5_table(files))
    finally:
        srv.close()
    assert sorted(p.name for p in folder.iterdir()) == sorted(files)
    np.testing.assert_array_equal(load_mnist("test", tmp_path / "data")[1],
                                  expected("classic-mnist", "test", mnist_n=30)[1])
