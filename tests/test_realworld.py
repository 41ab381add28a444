"""The real-world set's manifest and fetcher, offline: synthetic PNGs, a loopback HTTP server, a local git repo."""
from __future__ import annotations

import csv
import hashlib
import io
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from charclf.data import realworld as rw
from charclf.errors import DataError
from httpmirror import MirrorServer

SOURCES = {"synth": {"repo": "someone/synth-hand", "commit": "c" * 40, "url": "https://github.com/someone/synth-hand",
                     "licence": "CC0", "capture": "tablet", "labels": "file name"}}


def png(char_seed: int, size=(40, 50)) -> bytes:
    """A small dark-on-light PNG whose bytes differ by seed (a vertical bar at a seed-dependent place)."""
    arr = np.full((size[1], size[0]), 255, np.uint8)
    x = 5 + char_seed % (size[0] - 12)
    arr[8:-8, x:x + 5] = 0
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def rows_for(files: dict[str, bytes], base: str, labels="A7x") -> list[rw.ManifestRow]:
    return [rw.ManifestRow(id=f"synth-{i}", source="synth", label=labels[i % len(labels)], capture="tablet",
                           path=path, url=f"{base}/{path}", sha256=hashlib.sha256(data).hexdigest())
            for i, (path, data) in enumerate(files.items())]


FILES = {f"img/{c} ({i}).png": png(i) for i, c in enumerate("ABC")}


# -- manifest -------------------------------------------------------------------------------------------------
def test_manifest_round_trip_keeps_every_field(tmp_path):
    rows = rows_for(FILES, "http://127.0.0.1:1")
    rows.append(rw.ManifestRow(id="synth-crop", source="synth", label="q", capture="photo", path="img/A (0).png",
                               url="http://127.0.0.1:1/img/A (0).png", sha256=rows[0].sha256, crop=(1, 2, 30, 40)))
    path = rw.write_manifest(rows, tmp_path / "m.csv")
    back = rw.read_manifest(path, SOURCES)
    assert back == rows
    assert [r.kind for r in back] == ["upper", "digit", "lower", "lower"]
    assert len(rw.unique_files(back)) == 3  # the crop shares its photo with row 0


@pytest.mark.parametrize("column, value, expected", [
    ("kind", "upper", "does not match label"),
    ("sha256", "abc", "is not 64 lower-case hex"),
    ("label", "AB", "is not one of the 62 characters"),
    ("crop", "1 2 3", "four whole numbers"),
    ("crop", "5 5 2 9", "is empty"),
    ("capture", "fax", "is not one of"),
    ("path", "../etc/passwd", "must be relative"),
    ("source", "elsewhere", "is not in sources.json"),
])
def test_a_bad_row_is_one_line_naming_file_and_line(tmp_path, column, value, expected):
    path = rw.write_manifest(rows_for(FILES, "http://127.0.0.1:1"), tmp_path / "m.csv")
    table = list(csv.reader(path.read_text().splitlines()))
    table[2][table[0].index(column)] = value  # the second data row = line 3 of the file
    with open(path, "w", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(table)
    with pytest.raises(DataError, match=rf"m\.csv: line 3: .*{expected}.*Fix:"):
        rw.read_manifest(path, SOURCES)


def test_a_manifest_with_other_columns_is_refused(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("file,label\na.png,A\n")
    with pytest.raises(DataError, match="has columns"):
        rw.read_manifest(path, SOURCES)


def test_committed_manifest_is_valid_and_covers_the_issue_minimums():
    rows = rw.read_manifest()
    assert len(rows) >= 600
    kinds = {r.kind for r in rows}
    assert kinds == {"digit", "upper", "lower"}
    assert len({r.source for r in rows}) >= 3
    assert "photo" in {r.capture for r in rows}
    for r in rows:  # every URL pins the source's commit
        src = rw.SOURCES[r.source]
        assert r.url == rw.raw_url(src["repo"], src["commit"], r.path)


def test_raw_url_percent_encodes_the_path():
    url = rw.raw_url("o/r", "f" * 40, "V0.3/data/0/0 (1).png")
    assert url == "https://raw.githubusercontent.com/o/r/" + "f" * 40 + "/V0.3/data/0/0%20%281%29.png"


# -- fetching over HTTP -----------------------------------------------------------------------------------------
def one_row(server: MirrorServer, name: str, expected: bytes) -> rw.ManifestRow:
    """A row for ``server``'s /name whose manifest checksum is that of ``expected``."""
    return rw.ManifestRow(id=name, source="synth", label="A", capture="tablet", path=name,
                          url=server.url("/" + name), sha256=hashlib.sha256(expected).hexdigest())


def test_fetch_over_loopback_verifies_and_resumes(tmp_path):
    server = MirrorServer({"/" + p.replace(" ", "%20"): d for p, d in FILES.items()})
    rows = rows_for(FILES, server.base)
    rows = [rw.ManifestRow(**{**r.__dict__, "url": r.url.replace(" ", "%20")}) for r in rows]
    lines = []
    counts = rw.fetch_realworld(tmp_path, rows, sources=SOURCES, log=lines.append)
    assert counts == {"kept": 0, "fetched": 3, "failed": 0} and lines == []
    for path, data in FILES.items():
        assert (tmp_path / "synth" / path).read_bytes() == data
    # A second run fetches nothing; a damaged local file is fetched again.
    (tmp_path / "synth" / "img/B (1).png").write_bytes(b"damaged")
    n_before = len(server.requests)
    counts = rw.fetch_realworld(tmp_path, rows, sources=SOURCES, log=lines.append)
    assert counts == {"kept": 2, "fetched": 1, "failed": 0}
    assert len(server.requests) == n_before + 1
    assert rw.check_local(tmp_path, rows)["ok"] and not rw.check_local(tmp_path, rows)["mismatch"]


def test_fetch_refuses_a_file_whose_checksum_differs(tmp_path):
    server = MirrorServer({"/a.png": png(1), "/b.png": png(2)})
    rows = [one_row(server, "a.png", png(99)), one_row(server, "b.png", png(2))]
    lines = []
    counts = rw.fetch_realworld(tmp_path, rows, sources=SOURCES, log=lines.append)
    assert counts == {"kept": 0, "fetched": 1, "failed": 1}
    assert len(lines) == 1 and "a.png: sha256" in lines[0] and "Fix:" in lines[0] and "\n" not in lines[0]
    assert not (tmp_path / "synth" / "a.png").exists()  # a wrong file is never kept
    assert not list(tmp_path.rglob("*.part"))


def test_fetch_reports_each_http_failure_on_one_line_and_goes_on(tmp_path):
    server = MirrorServer({"/b.png": png(2)})
    rows = [one_row(server, "a.png", png(1)), one_row(server, "b.png", png(2))]
    lines = []
    counts = rw.fetch_realworld(tmp_path, rows, sources=SOURCES, log=lines.append)
    assert counts["failed"] == 1 and counts["fetched"] == 1
    assert len(lines) == 1 and "404" in lines[0] and "Fix:" in lines[0]


def test_fetch_resumes_a_cut_transfer(tmp_path):
    big = png(3, size=(400, 300))
    server = MirrorServer({"/big.png": big})
    row = one_row(server, "big.png", big)
    server.mode = "cut"
    lines = []
    assert rw.fetch_realworld(tmp_path, [row], sources=SOURCES, log=lines.append)["failed"] == 1
    assert (tmp_path / "synth" / "big.png.part").exists()
    server.mode = "full"
    assert rw.fetch_realworld(tmp_path, [row], sources=SOURCES, log=lines.append)["fetched"] == 1
    assert server.requests[-1]["range"] is not None  # the second request asked only for the rest
    assert (tmp_path / "synth" / "big.png").read_bytes() == big


# -- fetching from git snapshots ----------------------------------------------------------------------------------
@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_fetch_from_mirror_reads_the_pinned_commit(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    for path, data in FILES.items():
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        (work / path).write_bytes(data)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(work)]
    subprocess.run(git[:5] + ["init", "-q", str(work)], check=True)
    subprocess.run(git + ["add", "."], check=True)
    subprocess.run(git + ["commit", "-qm", "x"], check=True)
    commit = subprocess.run(git + ["rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    mirror = tmp_path / "mirror"
    gitdir = rw.mirror_git_dir(mirror, "someone/synth-hand")
    gitdir.parent.mkdir(parents=True)
    shutil.copytree(work / ".git", gitdir)
    sources = {"synth": {**SOURCES["synth"], "commit": commit}}
    rows = rows_for(FILES, "https://unused.invalid")
    out = tmp_path / "set"
    assert rw.fetch_realworld(out, rows, mirror=mirror, sources=sources) == {"kept": 0, "fetched": 3, "failed": 0}
    assert rw.check_local(out, rows)["ok"] and not rw.check_local(out, rows)["missing"]
    lines = []
    missing = {"synth": {**SOURCES["synth"], "repo": "nobody/absent"}}
    assert rw.fetch_realworld(tmp_path / "x", rows[:1], mirror=mirror, sources=missing, log=lines.append)["failed"]
    assert "no snapshot of nobody/absent" in lines[0]


# -- the real local copy ----------------------------------------------------------------------------------------
def test_local_realworld_set_matches_the_manifest():
    root = rw.default_dir()
    if not root.is_dir():
        root = Path(__file__).resolve().parent.parent / "data" / "realworld"
    if not root.is_dir():
        pytest.skip(f"no local real-world set at {rw.default_dir()} (run `charclf data fetch-realworld`)")
    rows = rw.read_manifest()
    status = rw.check_local(root, rows)
    assert not status["mismatch"], status["mismatch"][:3]
    assert not status["missing"], f"{len(status['missing'])} missing, e.g. {status['missing'][:3]}"


def test_cli_fetches_a_manifest_and_exits_1_with_one_line_per_failure(tmp_path, capsys):
    from charclf.apps.cli import main

    server = MirrorServer({"/a.png": png(1)})
    rows = [one_row(server, "a.png", png(1)), one_row(server, "gone.png", png(2))]
    manifest = rw.write_manifest(rows, tmp_path / "m.csv")
    argv = ["data", "fetch-realworld", "--manifest", str(manifest), "--dir", str(tmp_path / "set")]
    assert main(argv) == 1
    out, err = capsys.readouterr()
    assert "1 fetched, 0 already verified, 1 failed" in out
    failures = [line for line in err.splitlines() if line.startswith("failed:")]
    assert len(failures) == 1 and "gone.png" in failures[0] and "404" in failures[0]
    server.files["/gone.png"] = png(2)
    assert main(argv) == 0
    assert "1 fetched, 1 already verified, 0 failed" in capsys.readouterr().out


def test_the_manifest_tool_never_replaces_the_committed_manifest_and_names_a_missing_snapshot(tmp_path, capsys):
    from charclf.apps.cli import main
    from charclf.data.realworld import MANIFEST_PATH

    before = MANIFEST_PATH.read_bytes()
    assert main(["realworld-manifest", "--mirror", str(tmp_path)]) == 2  # its default --out: the committed one
    assert "exists" in capsys.readouterr().err and MANIFEST_PATH.read_bytes() == before
    assert main(["realworld-manifest", "--mirror", str(tmp_path), "--out", str(tmp_path / "m.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "failed" in err and "git clone --bare" in err
    assert not (tmp_path / "m.csv").exists()
