"""download_emnist against a local HTTP server serving a synthetic gzip.zip (NIST is never contacted)."""
from __future__ import annotations

import hashlib
import http.server
import socket
import threading

import numpy as np
import pytest
from synth import expected, official_files, sha256_table, write_zip

from charclf.cli import main
from charclf.data import download_emnist, load_official
from charclf.errors import ChecksumError, DownloadError


class ArchiveServer:
    """Serves ``archive`` at /gzip.zip with HTTP Range support; ``mode`` simulates failures."""

    def __init__(self, archive: bytes):
        self.archive = archive
        self.mode = "full"  # full | cut (drop the connection half way) | ignore-range | 404
        self.requests: list[dict] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_GET(self):
                server.requests.append({"path": self.path, "range": self.headers.get("Range")})
                if server.mode == "404" or self.path != "/gzip.zip":
                    self.send_error(404)
                    return
                data, start = server.archive, 0
                rng = self.headers.get("Range")
                if rng and server.mode != "ignore-range":
                    start = int(rng.split("=")[1].split("-")[0])
                    if start >= len(data):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if server.mode == "cut":
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/gzip.zip"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


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


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/gzip.zip"  # nothing listens there: connection refused, like no network


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
