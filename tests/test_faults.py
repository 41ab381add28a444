"""Issue 35: nothing lost under concurrency, kills and full disks; every bad input one clear line.

The faults are real, not mocked: two ``charclf train`` processes into one folder, a process killed with SIGKILL
(and one killed exactly at its first ``resume.pt`` rename), a full and a read-only tmpfs (mounted when this
runs as root and the machine allows it, else skipped with the reason), and an HTTP server on 127.0.0.1 that
trickles its bytes. Each issue case has one test here, named ``test_case_<N>_...``, or a pointer to the test
that covers it next to its code's other tests:

- case 3 (in-place damage behind the cache): tests/test_bad_input.py::test_file_corrupted_in_place_...
- case 4 (a mirror manifest listing only gzip.zip): tests/test_data_download.py::test_a_manifest_listing_...
- case 5 (a protocol part empty or missing a class): tests/test_data_protocols.py::test_a_protocol_with_...
- case 10 (Ctrl-C in tune): tests/test_tune.py::test_ctrl_c_is_one_line_without_optunas_traceback
- case 12 (verify and a bad labels file): tests/test_data_verify.py::test_a_bad_labels_file_does_not_...
- case 18 (cache growth): tests/test_bad_input.py::test_copies_of_one_file_share_one_cache_entry_...

This file doubles as a script: ``python tests/test_faults.py kill-at-rename ARGV...`` runs ``charclf ARGV``
in a process that SIGKILLs itself when it is about to rename its first resume.pt into place.
"""
from __future__ import annotations

import contextlib
import http.server
import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
# The 320-image synthetic ByClass folder and the private decode cache of charclf train's own tests.
from cli_args import with_overrides  # noqa: E402
from test_train_cli import data_dir, private_cache  # noqa: E402,F401

from charclf.apps.cli import main  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def train_args(data_dir, out, *extra) -> list[str]:
    """A small training's command line; an option in ``extra`` replaces its default here."""
    defaults = {"--model": "lenet5_keras", "--epochs": "1", "--batch-size": "32", "--max-train-samples": "64",
                "--data-dir": str(data_dir), "--out": str(out)}
    return ["train", "--no-progress", *with_overrides(defaults, extra)]


def one_line(capsys, argv, code=2) -> str:
    """Run ``charclf argv`` in process; assert its exit code and that stderr is one line; return it."""
    capsys.readouterr()
    rc = main(argv)
    err = capsys.readouterr().err.strip()
    assert rc == code, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def env() -> dict:
    """A subprocess imports this checkout's charclf, one thread each (two run at once on small machines)."""
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    return dict(os.environ, PYTHONPATH=path, OMP_NUM_THREADS="1", MPLBACKEND="Agg")


def charclf(*argv, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "charclf", *argv], env=env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def wait_for(predicate, timeout: float = 120.0, what: str = "") -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def snapshot(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# -- lost results ------------------------------------------------------------------------------------------------
def test_case_1_resume_of_a_finished_run_changes_nothing_and_says_so(data_dir, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(train_args(data_dir, out)) == 0
    assert main(["evaluate", str(out), "--part", "val", "--data-dir", str(data_dir)]) == 0
    assert sorted(json.loads((out / "metrics.json").read_text())["evaluation"]) == ["test", "val"]
    before = snapshot(out)
    line = one_line(capsys, ["train", "--out", str(out), "--resume", "--no-progress", "--data-dir", str(data_dir)],
                    code=0)
    assert "this run is finished" in line and "changed nothing" in line
    assert snapshot(out) == before  # metrics.json (with its val evaluation) included, byte for byte
    # The Python API says the same (a TrainingError subclass), after checking the state fits, and writes nothing.
    from charclf.data import load_data
    from charclf.errors import RunFinished
    from charclf.models import create_model
    from charclf.train import TrainConfig, fit

    config = TrainConfig.from_json(out / "train_config.json")
    with pytest.raises(RunFinished, match="changed nothing"):
        fit(create_model("lenet5_keras", num_classes=62), load_data("byclass", "holdout", data_dir), config, out,
            resume=True, progress=False)
    assert snapshot(out) == before


@pytest.mark.slow
def test_case_2_a_second_training_into_the_same_folder_is_refused_naming_the_first(data_dir, tmp_path):
    out = tmp_path / "run"
    # Long enough to outlive every check below on a fast CPU (400 epochs of 64 images once finished before the
    # evaluation ran, which then scored a finished run); it is killed at the end.
    first = charclf(*train_args(data_dir, out, "--epochs", "20000"))
    try:
        lock = out / ".charclf-train.lock"
        wait_for(lambda: lock.is_file() and lock.read_text().strip() == str(first.pid) or first.poll() is not None,
                 what="the first training to lock its folder")
        assert first.poll() is None, first.communicate()
        before = sorted(p.name for p in out.iterdir())
        for extra in ((), ("--overwrite",), ("--resume",)):  # --overwrite would otherwise delete its files
            second = charclf(*train_args(data_dir, out, "--epochs", "400", *extra))
            _, err = second.communicate(timeout=120)
            assert second.returncode == 2, err
            assert f"another training (PID {first.pid}) is writing into this folder" in err
            assert len(err.strip().splitlines()) == 1
        # nor may an evaluation merge into the metrics.json that training is about to write
        evaluate = charclf("evaluate", str(out), "--data-dir", str(data_dir))
        _, err = evaluate.communicate(timeout=120)
        assert evaluate.returncode == 2 and f"another training (PID {first.pid})" in err, err
        assert first.poll() is None  # the first one was not disturbed
        assert set(before) <= {p.name for p in out.iterdir()}
    finally:
        first.kill()  # SIGKILL: the kernel drops its flock, the lock file (with a dead PID) stays
        first.communicate()
    assert (out / ".charclf-train.lock").read_text().strip() == str(first.pid)
    # A dead holder's lock is taken over: the folder is usable at once, and left without a lock file.
    third = charclf(*train_args(data_dir, out, "--overwrite"))
    _, err = third.communicate(timeout=300)
    assert third.returncode == 0, err
    assert not (out / ".charclf-train.lock").exists() and (out / "metrics.json").is_file()


# -- kills -------------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_run_killed_with_sigkill_resumes_to_the_end(data_dir, tmp_path):
    out = tmp_path / "run"
    proc = charclf(*train_args(data_dir, out, "--epochs", "3"))
    wait_for(lambda: (out / "resume.pt").is_file() or proc.poll() is not None, what="the first epoch's resume.pt")
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    if proc.returncode == 0:
        pytest.skip("the run finished before the kill landed (a very fast machine)")
    resumed = charclf(*train_args(data_dir, out, "--epochs", "3", "--resume"))
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    history = (out / "history.csv").read_text().strip().splitlines()
    assert len(history) == 4 and [int(r.split(",")[0]) for r in history[1:]] == [1, 2, 3]
    assert not list(out.glob(".*.tmp")) and not (out / ".charclf-train.lock").exists()


@pytest.mark.slow
def test_case_13_killed_at_the_first_resume_pt_rename_resumes_and_leaves_no_tmp_files(data_dir, tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, __file__, "kill-at-rename", *train_args(data_dir, out, "--epochs", "2")],
                          env=env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert not (out / "resume.pt").exists() and (out / "model.safetensors").is_file()
    orphans = list(out.glob(".resume.pt.*.tmp"))
    assert orphans  # what the kill left: the complete temporary file that was about to be renamed
    resumed = charclf(*train_args(data_dir, out, "--epochs", "2", "--resume"))
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert "starting a fresh run" in err and "removing 1 temporary file(s) a killed run left" in err
    assert not list(out.glob(".*.tmp")) and len((out / "history.csv").read_text().strip().splitlines()) == 3


# -- full and read-only disks ------------------------------------------------------------------------------------
@contextlib.contextmanager
def tmpfs(path: Path, size: str):
    """A real tmpfs of ``size`` at ``path``; skips the test when this process may not mount one."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (it is the only honest full/read-only disk)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def remount(path: Path, option: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{option}", str(path)], check=True, capture_output=True)


@pytest.mark.slow
def test_case_8_a_full_disk_is_one_line_and_resume_is_exact(data_dir, tmp_path, capsys):
    with tmpfs(tmp_path / "disk", "4m") as disk:
        out = disk / "run"
        filler = disk / "filler"
        filler.write_bytes(b"\0" * (4 * 2**20 - 96 * 1024))  # ~96 KB left: the epoch's files do not fit
        line = one_line(capsys, train_args(data_dir, out, "--epochs", "2"))
        assert "disk full" in line and "free space and rerun" in line and "--resume" in line
        assert "inline_container" not in line and "Traceback" not in line
        filler.unlink()  # space freed: the advice works
        assert main(train_args(data_dir, out, "--epochs", "2", "--resume")) == 0
        assert len((out / "history.csv").read_text().strip().splitlines()) == 3
        assert not list(out.glob(".*.tmp"))


class LocalServer:
    """A threaded HTTP server on 127.0.0.1 answering GETs with ``self.get(handler)``; ``close`` stops it."""

    def __init__(self):
        self.stop = threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_GET(self):
                with contextlib.suppress(OSError):  # the client gave up: nothing to do
                    outer.get(self)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.url = self.base + "/gzip.zip"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def get(self, handler) -> None:
        raise NotImplementedError

    def close(self):
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


class Endless(LocalServer):
    """Streams ``size`` bytes of gzip.zip without a Content-Length (so no free-space check can refuse the
    download up front), over HTTP/1.0; no SHA256SUMS."""

    def __init__(self, size: int):
        self.size = size
        super().__init__()

    def get(self, handler) -> None:
        if not handler.path.endswith("/gzip.zip"):
            handler.send_error(404)
            return
        handler.send_response(200)
        handler.end_headers()
        for _ in range(self.size // 65536):
            handler.wfile.write(b"\0" * 65536)


@pytest.mark.slow
def test_a_download_onto_a_full_disk_is_one_line(tmp_path, capsys):
    server = Endless(4 * 2**20)
    try:
        with tmpfs(tmp_path / "disk", "1m") as disk:
            line = one_line(capsys, ["data", "download", "--data-dir", str(disk / "data"), "--mirror", server.url,
                                     "--no-progress"])
            assert "gzip.zip.part: disk full while writing it" in line and "free space and rerun" in line
    finally:
        server.close()


def test_control_characters_from_file_names_never_reach_the_terminal(tmp_path, capsys):
    """A file name (or content) quoted in a message is shown, escaped, never interpreted by the terminal."""
    bad = tmp_path / "cfg\x1b[2J\x1b]0;pwned\x07\u202e.json"
    line = one_line(capsys, ["train", "--config", str(bad), "--out", str(tmp_path / "run")])
    assert "\x1b" not in line and "\x07" not in line and "\u202e" not in line
    assert "\\x1b[2J" in line and "\\u202e" in line


@pytest.mark.slow
def test_case_9_a_read_only_out_is_refused_before_any_work(data_dir, tmp_path, capsys):
    finished = tmp_path / "finished"
    assert main(train_args(data_dir, finished)) == 0
    with tmpfs(tmp_path / "ro", "8m") as disk:
        run = disk / "run"
        (disk / "sub").mkdir()
        import shutil

        shutil.copytree(finished, run)
        remount(disk, "ro")
        t = time.perf_counter()
        line = one_line(capsys, train_args(data_dir, disk / "sub" / "new"))
        assert "cannot be written" in line and "read-only" in line and "Fix:" in line
        line = one_line(capsys, ["evaluate", str(run), "--part", "val", "--data-dir", str(data_dir)])
        assert f"{run}: RUN_DIR cannot be written" in line and "read-only" in line
        assert time.perf_counter() - t < 10  # refused at once: nothing loaded, nothing evaluated


def test_case_17_files_keep_their_mode_and_new_ones_follow_the_umask(data_dir, tmp_path):
    old = os.umask(0o022)
    try:
        out = tmp_path / "run"
        assert main(train_args(data_dir, out)) == 0
        for name in ("model.safetensors", "metrics.json", "history.csv", "resume.pt", "train_config.json"):
            assert stat.S_IMODE((out / name).stat().st_mode) == 0o644, name
        os.chmod(out / "metrics.json", 0o640)
        assert main(["evaluate", str(out), "--part", "val", "--data-dir", str(data_dir)]) == 0
        assert stat.S_IMODE((out / "metrics.json").stat().st_mode) == 0o640  # rewritten, mode kept
    finally:
        os.umask(old)


# -- slow and lying servers --------------------------------------------------------------------------------------
class Trickle(LocalServer):
    """Promises ``size`` bytes and sends one every ``every`` seconds (any path, SHA256SUMS included)."""

    def __init__(self, size: int = 10_000, every: float = 0.2):
        self.size, self.every = size, every
        super().__init__()

    def get(self, handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(self.size))
        handler.end_headers()
        for _ in range(self.size):
            if self.stop.wait(self.every):
                return
            handler.wfile.write(b"x")
            handler.wfile.flush()


class SlowHeaders(LocalServer):
    """Sends its status line and headers one byte every 0.2 s: each read is quick, the response never comes."""

    def get(self, handler) -> None:
        for byte in b"HTTP/1.0 200 OK\r\nContent-Length: 10\r\n\r\n0123456789":
            if self.stop.wait(0.2):
                return
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()


def test_a_server_trickling_its_headers_fails_at_the_deadline(tmp_path, monkeypatch):
    import charclf.data.download as download
    from charclf.errors import DownloadError

    monkeypatch.delenv(download.ALLOW_ENV, raising=False)
    server = SlowHeaders()
    try:
        t = time.perf_counter()
        with pytest.raises(DownloadError, match=r"SHA256SUMS: no response within 2 s"):
            download.download_emnist(tmp_path / "data", [server.url], progress=False, timeout=2)
        assert time.perf_counter() - t < 8
    finally:
        server.close()


@pytest.mark.slow
def test_two_downloads_into_one_data_dir_one_is_refused_naming_the_other(tmp_path, capsys):
    server = Trickle(size=1_000_000, every=0.001)  # slow enough to be still running when the second starts
    data = tmp_path / "data"
    first = charclf("data", "download", "--data-dir", str(data), "--mirror", server.url, "--no-progress")
    try:
        lock = data / "emnist" / ".gzip.zip.lock"
        wait_for(lambda: lock.is_file() and lock.read_text().strip() == str(first.pid) or first.poll() is not None,
                 what="the first download to lock its folder")
        assert first.poll() is None, first.communicate()
        line = one_line(capsys, ["data", "download", "--data-dir", str(data), "--mirror", server.url,
                                 "--no-progress"])
        assert f"another charclf download (PID {first.pid}) is fetching it into this folder" in line
    finally:
        first.kill()
        first.communicate()
        server.close()


@pytest.mark.parametrize("what", ["archive", "manifest"])
def test_case_11_a_trickling_server_fails_at_the_minimum_rate(tmp_path, monkeypatch, what):
    import charclf.data.download as download
    from charclf.errors import DownloadError

    monkeypatch.setattr(download, "RATE_WINDOW", 1.0)  # the rule, on a test's time scale (default 30 s)
    monkeypatch.delenv(download.ALLOW_ENV, raising=False)
    server = Trickle()
    try:
        # NIST's own URL skips the manifest; a mirror's manifest is fetched first (and trickles too here)
        url = server.base + "/gzip.zip"
        if what == "archive":
            monkeypatch.setattr(download, "mirror_checksums", lambda *a, **k: download.OFFICIAL)
        t = time.perf_counter()
        with pytest.raises(DownloadError, match="stalled.*below the minimum 1,000 bytes/s"):
            download.download_emnist(tmp_path / "data", [url], progress=False, timeout=5, min_rate=1000)
        assert time.perf_counter() - t < 10  # each read came within the 5 s timeout: only the rate rule stops it
    finally:
        server.close()


# -- one clear line ----------------------------------------------------------------------------------------------
def test_case_7_an_absurd_learning_rate_is_refused_by_the_argument_check(data_dir, tmp_path, capsys):
    for lr in ("1e308", "11", "0", "nan", "inf"):
        line = one_line(capsys, train_args(data_dir, tmp_path / "run", "--lr", lr))
        assert "argument --lr" in line and ("out of range" in line or "not a number" in line), line
    assert not (tmp_path / "run").exists()


def test_case_14_resume_of_a_folder_that_does_not_exist(tmp_path, capsys):
    line = one_line(capsys, ["train", "--out", str(tmp_path / "nope"), "--resume"])
    assert f"{tmp_path / 'nope'}: does not exist, so there is no run to resume" in line and "needs a model" not in line


def test_case_15_credentials_are_masked_in_every_message(tmp_path, capsys):
    from httpmirror import closed_port_url

    from charclf.errors import DataError, mask_credentials

    url = closed_port_url().replace("http://", "http://bob:hunter2@") + "?token=s3cr3t"
    line = one_line(capsys, ["data", "download", "--data-dir", str(tmp_path / "data"), "--mirror", url,
                             "--no-progress"])
    assert "hunter2" not in line and "s3cr3t" not in line and "***@127.0.0.1" in line
    assert "hunter2" not in str(DataError(url, "bad", f"see {url}"))
    assert mask_credentials("postgresql://bob:pw@db/x and https://tok@github.com/a") == \
        "postgresql://***@db/x and https://***@github.com/a"


def test_case_16_more_train_samples_than_the_data_has(data_dir, tmp_path, capsys):
    line = one_line(capsys, train_args(data_dir, tmp_path / "run", "--max-train-samples", "100000"))
    assert "max_train_samples=100,000" in line and "has only 256 images" in line
    assert not (tmp_path / "run").exists()


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "kill-at-rename":
    import charclf.fileio as fileio

    real_replace = os.replace

    def replace(src, dst):
        if Path(dst).name == "resume.pt":
            os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no atexit: the kill lands at the rename itself
        return real_replace(src, dst)

    fileio.os = type(os)("os_with_a_kill")
    fileio.os.__dict__.update(os.__dict__)
    fileio.os.replace = replace
    raise SystemExit(main(sys.argv[2:]))


@pytest.mark.slow
def test_two_evaluations_of_one_run_at_once_both_are_kept(data_dir, tmp_path, monkeypatch):
    """`charclf evaluate --part val` finishing while `charclf evaluate --tta` of the same run computes: the
    second merges into metrics.json as it is when it writes (under a lock), not as it read it at its start, so
    the first's evaluation is not silently dropped (both said "written ... under evaluation.X", exit 0)."""
    from charclf.eval import evaluate as ev

    out = tmp_path / "run"
    assert main(train_args(data_dir, out)) == 0
    real = ev.evaluate_model

    def another_evaluation_finishes_meanwhile(*args, **kwargs):
        monkeypatch.setattr(ev, "evaluate_model", real)
        assert main(["evaluate", str(out), "--part", "val", "--data-dir", str(data_dir)]) == 0
        return real(*args, **kwargs)

    monkeypatch.setattr(ev, "evaluate_model", another_evaluation_finishes_meanwhile)
    assert main(["evaluate", str(out), "--tta", "--data-dir", str(data_dir)]) == 0
    assert sorted(json.loads((out / "metrics.json").read_text())["evaluation"]) == ["test", "test_tta", "val"]
    assert not (out / ".metrics.json.lock").exists()  # released and removed
    # A lock file a killed evaluation left is part of the run folder: --overwrite clears it, nothing is refused.
    (out / ".metrics.json.lock").write_text("12345\n")
    assert main(train_args(data_dir, out, "--overwrite")) == 0


def test_fetch_realworld_onto_a_read_only_or_full_disk_is_one_line_not_a_network_failure_per_file(tmp_path,
                                                                                                    capsys):
    """fetch-realworld into a read-only --dir printed one "could not fetch ... Fix: check the network" line per
    file (808 for the real manifest); onto a disk that fills up, the same per file. Now: a read-only --dir is
    refused before any request, and a full disk stops the fetch at the first file, naming it (verified files stay)."""
    import hashlib

    from httpmirror import MirrorServer

    from charclf.data import realworld as rw

    data = b"\x89PNG" + b"\0" * 300_000
    server = MirrorServer({f"/{i}.png": data for i in range(3)})
    rows = [rw.ManifestRow(id=str(i), source="synth", label="A", capture="tablet", path=f"{i}.png",
                           url=server.url(f"/{i}.png"), sha256=hashlib.sha256(data).hexdigest()) for i in range(3)]
    manifest = rw.write_manifest(rows, tmp_path / "m.csv")
    with tmpfs(tmp_path / "disk", "512k") as disk:
        argv = ["data", "fetch-realworld", "--manifest", str(manifest), "--dir", str(disk / "set")]
        line = one_line(capsys, argv)
        assert "disk full while writing it" in line and "/synth/" in line and "network" not in line
        assert not list(disk.rglob("*.tmp"))
        remount(disk, "ro")
        n_requests = len(server.requests)
        line = one_line(capsys, argv)
        assert "--dir cannot be written (the file system is read-only" in line
        assert len(server.requests) == n_requests  # refused before any request


def test_a_mirror_serving_a_web_page_instead_of_the_archive_is_named_so_and_the_next_mirror_tried(tmp_path, capsys):
    """A 200 with an HTML error/quota page used to read as 'md5 is X, expected Y'; now it says what came, and the
    next mirror is still tried (for EMNIST, for a real-world file likewise)."""
    from httpmirror import MirrorServer

    page = b"<html><body>Quota exceeded</body></html>"

    class Page(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    other = MirrorServer({})  # 404 for everything: it must be asked
    try:
        web = f"http://127.0.0.1:{httpd.server_address[1]}/gzip.zip"
        line = one_line(capsys, ["data", "download", "--data-dir", str(tmp_path / "data"), "--mirror", web,
                                 "--mirror", other.url("/gzip.zip"), "--no-progress"])
        assert "got a web page (text/html) instead of the file" in line and "md5 is" not in line
        assert any(r["path"] == "/gzip.zip" for r in other.requests)
        assert not list((tmp_path / "data").rglob("*.part"))
    finally:
        httpd.shutdown()
        other.close()
