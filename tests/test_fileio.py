"""charclf.fileio: where earlier results are kept aside."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from denied import deny_writes_in


def test_kept_aside_path_never_names_an_existing_file_and_keeps_dotted_folder_names(tmp_path):
    from charclf.fileio import kept_aside_path

    (tmp_path / "results.json").write_text("{}")
    first = kept_aside_path(tmp_path / "results.json", "T1", file=True)
    assert first.name == "results-T1.json"
    first.write_text("{}")
    assert kept_aside_path(tmp_path / "results.json", "T1", file=True).name == "results-T1-2.json"
    assert kept_aside_path(tmp_path / "charnet_s-w1.5-seed0", "T1").name == "charnet_s-w1.5-seed0-T1"


# -- refuse_to_replace: the one pre-work gate also refuses an output that cannot be written ----------------------
def test_refuse_to_replace_refuses_an_unwritable_folder_even_under_overwrite(tmp_path, monkeypatch):
    import pytest

    from charclf.errors import WriteError
    from charclf.fileio import refuse_to_replace

    locked = tmp_path / "locked"
    locked.mkdir()
    deny_writes_in(monkeypatch, locked)
    for overwrite in (False, True):
        with pytest.raises(WriteError) as err:
            refuse_to_replace(tmp_path / "fine.json", locked / "out.json", overwrite=overwrite)
        msg = str(err.value)
        assert msg.startswith(f"{locked / 'out.json'}: --out cannot be written (permission denied in {locked})")
        assert "Fix:" in msg and "\n" not in msg
    assert sorted(p.name for p in locked.iterdir()) == []


def test_refuse_to_replace_refuses_a_read_only_folder(tmp_path):
    import os

    import pytest

    from charclf.errors import WriteError
    from charclf.fileio import refuse_to_replace

    if os.geteuid() == 0:
        pytest.skip("root writes into a chmod 0o555 folder anyway (the injected-EACCES test covers root)")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with pytest.raises(WriteError, match="permission denied"):
            refuse_to_replace(locked / "race.json", overwrite=True)
    finally:
        locked.chmod(0o755)


def test_refuse_to_replace_accepts_a_folder_not_made_yet_and_creates_nothing(tmp_path):
    import pytest

    from charclf.errors import ConfigError, WriteError
    from charclf.fileio import refuse_to_replace

    refuse_to_replace(tmp_path / "new" / "deeper" / "out.json")  # atomic_path makes the folders when it writes
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "taken.json").write_text("{}")
    with pytest.raises(ConfigError, match="already exists"):
        refuse_to_replace(tmp_path / "taken.json")
    with pytest.raises(WriteError, match="is a file"):  # a file where a folder should be made
        refuse_to_replace(tmp_path / "taken.json" / "out.json", overwrite=True)


def test_race_and_bench_refuse_an_unwritable_out_before_any_work(tmp_path, monkeypatch, capsys):
    from charclf.apps.cli import main

    monkeypatch.setenv("CHARCLF_CACHE_DIR", str(tmp_path / "cache"))
    locked = tmp_path / "locked"
    locked.mkdir()
    deny_writes_in(monkeypatch, locked)
    for command in ("race", "bench"):
        out = locked / f"{command}.json"
        # --data-dir names nothing: the refusal must come before any data is looked for
        rc = main([command, "--device", "cpu", "--data-dir", str(tmp_path / "nowhere"), "--out", str(out)])
        err = capsys.readouterr().err.strip()
        assert rc == 2 and len(err.splitlines()) == 1, err
        assert f"{out}: --out cannot be written (permission denied" in err and "Fix:" in err


def test_move_aside_never_deletes_the_one_whole_copy_across_file_systems(tmp_path, monkeypatch):
    import errno
    import os
    import shutil

    import pytest

    from pathlib import Path

    from charclf import fileio
    from charclf.errors import WriteError

    run = tmp_path / "runs" / "a"
    (run / "sub").mkdir(parents=True)
    (run / "model.safetensors").write_bytes(b"w")
    (run / "sub" / "notes.txt").write_text("n")
    moved = fileio.move_aside(run, tmp_path / "replaced" / "a")  # one file system: a rename
    assert not run.exists() and (moved / "model.safetensors").read_bytes() == b"w"
    assert moved.parent == tmp_path / "replaced" and moved.name.startswith("a-")
    shutil.move(str(moved), str(run))

    def other_device(src, dst):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(fileio.os, "rename", other_device)
    real_copy = shutil.copytree

    def copy_cut_short(src, dst, *a, **kw):  # the disk fills during the copy (of the top folder)
        real_copy(src, dst, *a, **kw)
        if Path(src) == run:
            raise OSError(errno.ENOSPC, "No space left on device")
        return dst

    monkeypatch.setattr(fileio.shutil, "copytree", copy_cut_short)
    with pytest.raises(OSError):
        fileio.move_aside(run, tmp_path / "replaced" / "a")
    assert (run / "model.safetensors").read_bytes() == b"w" and (run / "sub" / "notes.txt").exists()
    assert list((tmp_path / "replaced").iterdir()) == []  # the partial copy is gone, the original whole

    monkeypatch.setattr(fileio.shutil, "copytree", real_copy)
    real_rmtree = shutil.rmtree

    def remove_cut_short(path, *a, **kw):  # the copy is whole; removing the original fails half-way
        if Path(path) == run:
            os.remove(run / "model.safetensors")
            raise OSError(errno.EBUSY, "Device or resource busy")
        return real_rmtree(path, *a, **kw)

    monkeypatch.setattr(fileio.shutil, "rmtree", remove_cut_short)
    with pytest.raises(WriteError, match="copied whole to .* remove what is left"):
        fileio.move_aside(run, tmp_path / "replaced" / "a")
    kept = next((tmp_path / "replaced").iterdir())
    assert (kept / "model.safetensors").read_bytes() == b"w" and (kept / "sub" / "notes.txt").exists()


def test_a_command_never_writes_two_results_to_one_path_nor_a_file_over_a_folder(tmp_path):
    """evaluate-images --out x.png: its gallery is x.png too, so the JSON would replace the gallery; a folder
    at the JSON's path must not be replaced with or without --overwrite. Refused before any work."""
    from charclf.errors import ConfigError
    from charclf.fileio import refuse_to_replace

    out = tmp_path / "x.png"
    for overwrite in (False, True):
        with pytest.raises(ConfigError, match="two of them are one path"):
            refuse_to_replace(out, out.with_suffix(".png"), overwrite=overwrite)
    (tmp_path / "res.json").mkdir()
    (tmp_path / "res.json" / "keep.txt").write_text("mine")
    for overwrite in (False, True):
        with pytest.raises(ConfigError, match="is a folder"):
            refuse_to_replace(tmp_path / "res.json", tmp_path / "res.png", overwrite=overwrite)
    assert (tmp_path / "res.json" / "keep.txt").read_text() == "mine" and not out.exists()
    refuse_to_replace(tmp_path / "a.json", tmp_path / "a.png")  # distinct new files: passes


def test_an_atomic_write_replaces_a_symlink_unless_asked_to_write_through_it(tmp_path):
    """Probe: `charclf evaluate` on a run whose metrics.json was a link to a shared file replaced the link by a
    file of its own, and the shared file never got the new evaluation. Writing through every link, though, made
    render-check (which links the committed outputs into a scratch folder) rewrite the committed files: so a
    link is replaced by default, and written through only where a command updates a user's file in place."""
    from charclf.fileio import atomic_write_text, write_json

    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "metrics.json").write_text("{}")
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.json").symlink_to(Path("..") / "shared" / "metrics.json")
    write_json(run / "metrics.json", {"evaluation": {"val": 0.8}}, follow_links=True)
    assert (run / "metrics.json").is_symlink()
    assert json.loads((shared / "metrics.json").read_text()) == {"evaluation": {"val": 0.8}}
    chain = tmp_path / "chain.txt"  # a link to a link: the file at the end is written
    chain.symlink_to(run / "metrics.json")
    atomic_write_text(chain, "x", follow_links=True)
    assert chain.is_symlink() and (run / "metrics.json").is_symlink() and (shared / "metrics.json").read_text() == "x"
    assert [p.name for p in shared.iterdir()] == ["metrics.json"]  # no temporary file left beside it
    atomic_write_text(chain, "scratch")  # the default: the link is replaced, what it points to is left alone
    assert not chain.is_symlink() and chain.read_text() == "scratch" and (shared / "metrics.json").read_text() == "x"

