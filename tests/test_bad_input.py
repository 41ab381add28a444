"""Issue 14: no input destroys a model or passes as a result.

One section per class of bad input, each against the shared mechanism that now holds it. Every CLI case
asserts the same contract: exit code 2 (1 where the command's own contract says so), ONE stderr line naming the
file, what is wrong and the fix (``Fix:``) — no traceback — and nothing on disk changed (hashes and mtimes of
the folder before and after).
"""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import torch

from charclf.apps.cli import main
from charclf.errors import CharclfError, DataError
from charclf.models.hub import load_model, read_model_config, save_pretrained

pytestmark = pytest.mark.usefixtures("one_thread")

LABELS = tuple("abcd")


# -- helpers ------------------------------------------------------------------------------------------------
def snapshot(folder: Path) -> dict:
    """Every path under ``folder`` with its mtime and (for files) sha256: equal snapshots = nothing changed."""
    folder = Path(folder)
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns,
                                         hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir")
            for p in sorted(folder.rglob("*"))}


def cli_error(capsys, argv: list[str], code: int = 2) -> str:
    """Run ``charclf argv`` in process; assert the exit code and a one-line stderr; return that line."""
    capsys.readouterr()
    rc = main(argv)  # argparse errors come back as exit codes too
    err = capsys.readouterr().err.strip()
    assert rc == code, err
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


@pytest.fixture(scope="module")
def good_model(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    from charclf.models import create_model

    out = tmp_path_factory.mktemp("models") / "good"
    save_pretrained(create_model("lenet5_keras", num_classes=4), out, architecture="lenet5_keras", num_classes=4,
                    labels=LABELS, mean=0.1, std=0.3, protocol="holdout", extra={"split": "byclass"})
    return out


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> Path:
    from PIL import Image, ImageDraw

    img = Image.new("L", (80, 80), 255)
    ImageDraw.Draw(img).line([(40, 10), (40, 70)], fill=0, width=8)
    path = tmp_path_factory.mktemp("img") / "one.png"
    img.save(path)
    return path


def edited_copy(good: Path, dest: Path, change) -> Path:
    shutil.copytree(good, dest)
    change(dest)
    return dest


def with_config(**changes):
    def change(folder: Path):
        cfg = json.loads((folder / "config.json").read_text())
        cfg.update(changes)
        (folder / "config.json").write_text(json.dumps(cfg))
    return change


def write_config(data: bytes | str):
    def change(folder: Path):
        path = folder / "config.json"
        path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return change


def config_is_folder(folder: Path):
    (folder / "config.json").unlink()
    (folder / "config.json").mkdir()


# -- 1. model folders: one validated loader (charclf.models.hub.read_model_config / load_model) --------------------
BAD_CONFIGS = {
    "number": (write_config("42"), "holds a JSON number (42)"),
    "string": (write_config('"a model"'), "holds a JSON string"),
    "list": (write_config("[1, 2]"), "holds a JSON list"),
    "not_utf8": (write_config(b"\xff\xfe{\x00}"), "is not UTF-8 text"),
    "a_folder": (config_is_folder, "is a folder, not a file"),
    "missing_keys": (write_config('{"architecture": "lenet5_keras"}'), "lacks the keys"),
    "model_kwargs_list": (with_config(model_kwargs=[1, 2]), "'model_kwargs' must be an object"),
    "short_labels": (with_config(labels=["a", "b"]), "has 2 labels but num_classes is 4"),
    "labels_not_strings": (with_config(labels=[1, 2, 3, 4]), "'labels' must be a list of non-empty strings"),
    "num_classes_string": (with_config(num_classes="4"), "'num_classes' must be a whole number"),
    "num_classes_zero": (with_config(num_classes=0, labels=[]), "'num_classes' must be a whole number >= 1"),
    "std_zero": (with_config(std=0), "'std' must be a finite number in [0.01, 1]"),
    "std_negative": (with_config(std=-0.3), "'std' must be a finite number in [0.01, 1]"),
    "std_nan": (write_config('{"architecture": "lenet5_keras", "num_classes": 4, "labels": ["a","b","c","d"], '
                             '"mean": 0.1, "std": NaN}'), "'std' must be a finite number"),
    "mean_string": (with_config(mean="0.1"), "'mean' must be a finite number"),
    "mean_infinite": (write_config('{"architecture": "lenet5_keras", "num_classes": 4, '
                                   '"labels": ["a","b","c","d"], "mean": Infinity, "std": 0.3}'),
                      "'mean' must be a finite number"),
    "architecture_unknown": (with_config(architecture="lenet6"), "'architecture' 'lenet6' is not a model"),
    "architecture_number": (with_config(architecture=5), "'architecture' must be a model name"),
    "model_kwargs_unknown": (with_config(model_kwargs={"depth": 3}), "does not accept the arguments ['depth']"),
    "orientation": (with_config(orientation="transposed"), "'orientation' must be \"upright\""),
    "labels_repeated": (with_config(labels=["a", "a", "c", "d"]), "names the classes ['a'] more than once"),
    "labels_empty": (with_config(labels=["a", "", "c", "d"]), "'labels' must be a list of non-empty strings"),
    "std_tiny": (with_config(std=1e-30), "'std' must be a finite number in [0.01, 1]"),
    "duplicate_key": (write_config('{"architecture": "lenet5_keras", "num_classes": 4, "labels": ["a","b","c","d"], '
                                   '"mean": 0.1, "std": 0.3, "mean": 0.9}'), "holds the key 'mean' twice"),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_bad_model_config_is_one_clear_error_naming_the_file(good_model, tmp_path, case):
    change, expected = BAD_CONFIGS[case]
    folder = edited_copy(good_model, tmp_path / case, change)
    before = snapshot(folder)
    with pytest.raises(DataError) as err:
        load_model(folder)
    msg = str(err.value)
    assert msg.startswith(str(folder / "config.json") + ":") and expected in msg and "Fix:" in msg, msg
    assert "\n" not in msg
    assert snapshot(folder) == before


@pytest.mark.parametrize("command", ["predict", "evaluate", "demo"])
@pytest.mark.parametrize("case", ["number", "std_zero", "short_labels", "model_kwargs_list"])
def test_every_command_that_opens_a_model_uses_the_validated_loader(good_model, image, tmp_path, capsys,
                                                                    command, case):
    change, expected = BAD_CONFIGS[case]
    folder = edited_copy(good_model, tmp_path / case, change)
    before = snapshot(folder)
    argv = {"predict": ["predict", str(image), "--model", str(folder)],
            "evaluate": ["evaluate", str(folder), "--data-dir", str(tmp_path / "nodata")],
            "demo": ["demo", "--model", str(folder)]}[command]
    line = cli_error(capsys, argv)
    assert f"charclf {command}: error: {folder / 'config.json'}:" in line and expected in line and "Fix:" in line
    assert snapshot(folder) == before


def test_std_zero_no_longer_predicts_nan(good_model, image, tmp_path, capsys):
    folder = edited_copy(good_model, tmp_path / "std0", with_config(std=0.0))
    line = cli_error(capsys, ["predict", str(image), "--model", str(folder)])
    assert "NaN" in line and "nan" not in capsys.readouterr().out


def test_good_model_folder_still_loads_and_reads(good_model):
    cfg = read_model_config(good_model)
    assert cfg["labels"] == list(LABELS) and load_model(good_model).charclf_config["std"] == pytest.approx(0.3)


@pytest.mark.parametrize("target", ["config.json", "model.safetensors"])
def test_unreadable_model_files_say_permission_denied(good_model, tmp_path, monkeypatch, target):
    """Tests run as root in CI (chmod cannot lock root out), so the permission error is injected at open."""
    folder = edited_copy(good_model, tmp_path / "locked", lambda f: None)
    real_read_bytes = Path.read_bytes

    def deny(path):
        if Path(path).name == target:
            raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(Path, "read_bytes", lambda self: deny(self) or real_read_bytes(self))
    import safetensors.torch as st

    real_load = st.load_file
    monkeypatch.setattr(st, "load_file", lambda p, device="cpu": deny(p) or real_load(p, device=device))
    with pytest.raises(DataError) as err:
        load_model(folder)
    msg = str(err.value)
    assert msg.startswith(str(folder / target)) and "permission denied" in msg and "damaged" not in msg


# -- 2. run folders: one guarded writer (charclf.train.run_folder.check_out_dir / clear_run_dir) --------------
PUBLISHED = Path(__file__).resolve().parents[1] / "model_hub" / "lenet5_keras"


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """A finished run folder as fit writes it (resume.pt, tb/ if tensorboard is installed, ...)."""
    from synth import quadrant_bundle

    from charclf.models import create_model
    from charclf.train import TrainConfig, fit

    out = tmp_path_factory.mktemp("runs") / "finished"
    cfg = TrainConfig(model="lenet5_keras", epochs=1, batch_size=32)
    torch.manual_seed(0)
    fit(create_model("lenet5_keras", num_classes=4), quadrant_bundle(), cfg, out, progress=False)
    return out


def train_argv(out: Path, *extra: str) -> list[str]:
    return ["train", "--out", str(out), "--no-progress", "--data-dir", str(out.parent / "no-data"), *extra]


def test_resume_refuses_a_published_model_folder(tmp_path, capsys):
    """The issue's data loss: `charclf train --resume --out model_hub/default` retrained over the model."""
    folder = tmp_path / "default"
    shutil.copytree(PUBLISHED, folder)
    before = snapshot(folder)
    # a finished run (its metrics.json holds a training record): nothing to do, nothing changed, said on one line
    line = cli_error(capsys, train_argv(folder, "--resume"), code=0)
    assert f"{folder}: this run is finished" in line and "changed nothing" in line and "Fix:" in line
    assert snapshot(folder) == before


def test_resume_refuses_any_finished_run_without_resume_state(finished_run, tmp_path, capsys):
    folder = tmp_path / "run"
    shutil.copytree(finished_run, folder)
    (folder / "resume.pt").unlink()  # as train.run_folder.prune_run leaves cached runs
    before = snapshot(folder)
    line = cli_error(capsys, train_argv(folder, "--resume"), code=0)
    assert "this run is finished" in line and "nothing to do" in line and "changed nothing" in line
    assert snapshot(folder) == before
    # asked for another model, the same finished run is refused (exit 2), and still nothing changes
    line = cli_error(capsys, train_argv(folder, "--resume", "--model", "minivision_v3"))
    assert "different training config" in line and "minivision_v3" in line
    assert snapshot(folder) == before


def test_resume_refuses_a_folder_of_someone_elses_files(tmp_path, capsys):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "thesis.tex").write_text("years of work")
    before = snapshot(folder)
    line = cli_error(capsys, train_argv(folder, "--resume", "--model", "lenet5_keras"))
    assert "thesis.tex" in line and "charclf did not write" in line and "Fix:" in line
    assert snapshot(folder) == before


@pytest.mark.parametrize("extra", ["notes.txt", "README.md", "sub/data.csv"])
def test_overwrite_refuses_a_folder_with_files_charclf_did_not_write(finished_run, tmp_path, capsys, extra):
    folder = tmp_path / "run"
    shutil.copytree(finished_run, folder)
    (folder / extra).parent.mkdir(exist_ok=True)
    (folder / extra).write_text("not charclf's")
    before = snapshot(folder)
    line = cli_error(capsys, train_argv(folder, "--overwrite", "--model", "lenet5_keras"))
    assert extra.split("/")[0] in line and "deletes only the files charclf train writes" in line
    assert snapshot(folder) == before


def test_overwrite_refuses_a_folder_that_merely_holds_a_history_csv(tmp_path, capsys):
    """The issue's case: --overwrite deleted an unrelated file in a folder that merely contained a history.csv."""
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "history.csv").write_text("year,event\n")
    (folder / "budget.xlsx").write_bytes(b"PK...")
    before = snapshot(folder)
    line = cli_error(capsys, train_argv(folder, "--overwrite", "--model", "lenet5_keras"))
    assert "budget.xlsx" in line
    (folder / "budget.xlsx").unlink()  # only a history.csv: still no train_config.json, so not a run
    before = snapshot(folder)
    line = cli_error(capsys, train_argv(folder, "--overwrite", "--model", "lenet5_keras"))
    assert "does not look like a charclf run" in line and "train_config.json" in line
    assert snapshot(folder) == before


def test_overwrite_removes_only_run_files_and_says_what(finished_run, tmp_path, capsys):
    from synth import quadrant_bundle

    from charclf.models import create_model
    from charclf.train import TrainConfig, fit
    from charclf.train.run_folder import RUN_FILES

    folder = tmp_path / "run"
    shutil.copytree(finished_run, folder)
    (folder / ".history.csv.k3j2x9.tmp").write_text("left by a kill mid-write")
    old = {p.name for p in folder.iterdir()}
    cfg = TrainConfig(model="lenet5_keras", epochs=1, batch_size=32, seed=3)
    capsys.readouterr()
    fit(create_model("lenet5_keras", num_classes=4), quadrant_bundle(), cfg, folder, overwrite=True, progress=False)
    said = capsys.readouterr().err
    assert "--overwrite: removing" in said and str(folder) in said
    for name in old:
        assert name in said
    assert not (folder / ".history.csv.k3j2x9.tmp").exists()
    assert {p.name for p in folder.iterdir()} <= set(RUN_FILES) | {"tb"}
    assert json.loads((folder / "train_config.json").read_text())["seed"] == 3


def test_resume_after_a_kill_before_the_first_epoch_starts_afresh(tmp_path, capsys):
    """A folder with only train_config.json (killed during epoch 1) loses nothing by starting again."""
    from synth import quadrant_bundle

    from charclf.models import create_model
    from charclf.train import TrainConfig, fit

    folder = tmp_path / "run"
    cfg = TrainConfig(model="lenet5_keras", epochs=1, batch_size=32)
    folder.mkdir()
    cfg.to_json(folder / "train_config.json")
    history = fit(create_model("lenet5_keras", num_classes=4), quadrant_bundle(), cfg, folder, resume=True,
                  progress=False)
    assert len(history) == 1 and "starting a fresh run" in capsys.readouterr().err


# -- 3. data: `charclf data verify` and loading share their checks ----------------------------------------------
def _raw(root: Path, split: str, part: str, kind: str) -> Path:
    from charclf.data.official import official_file

    return root / "emnist" / official_file(split, part, kind)[:-3]


def _mapping(root: Path, split: str = "digits") -> Path:
    return root / "emnist" / f"emnist-{split}-mapping.txt"


def _swap_two_classes(root):  # labels still 0..9 in order, names of 0 and 1 swapped: parses, but mislabels
    path = _mapping(root)
    path.write_text(path.read_text().replace("0 48\n1 49\n", "0 49\n1 48\n"))


def _raw_under_gz_name(root):
    raw = _raw(root, "digits", "test", "images")
    raw.rename(raw.with_name(raw.name + ".gz"))


def _idx_edit(split, part, kind, fn):
    def change(root):
        from charclf.data.idx import parse_idx, write_idx

        path = _raw(root, split, part, kind)
        write_idx(path, fn(np.array(parse_idx(path.read_bytes()))), compress=False)
    return change


import numpy as np  # noqa: E402  (the data section's helpers above only need it at call time)

DATA_DAMAGE = {
    "mapping_reordered": _swap_two_classes,
    "mapping_garbage_line": lambda root: _mapping(root).write_text("0 48\n1 forty-nine\n"),
    "mapping_short": lambda root: _mapping(root).write_text("0 48\n1 49\n"),
    "raw_idx_under_gz_name": _raw_under_gz_name,
    "truncated_labels": lambda root: _raw(root, "digits", "test", "labels").write_bytes(
        _raw(root, "digits", "test", "labels").read_bytes()[:-7]),
    "images_32x32": _idx_edit("digits", "test", "images", lambda a: np.zeros((len(a), 32, 32), np.uint8)),
    "fewer_labels_than_images": _idx_edit("digits", "test", "labels", lambda a: a[:-3]),
    "label_outside_mapping": _idx_edit("digits", "test", "labels", lambda a: np.where(np.arange(len(a)) == 5, 12, a)
                                       .astype(np.uint8)),
}


@pytest.mark.parametrize("case", sorted(DATA_DAMAGE))
def test_verify_calls_runnable_exactly_what_loads(tmp_path, monkeypatch, case):
    from synth import make_emnist_dir

    from charclf.data import load_data, runnable_protocols, verify_data_dir

    monkeypatch.setenv("CHARCLF_CACHE_DIR", str(tmp_path / "cache"))
    root = make_emnist_dir(tmp_path / "data", splits=("digits",), layout="raw", mnist=False, holdout=True, n=120)
    DATA_DAMAGE[case](root)
    before = snapshot(root)
    table = verify_data_dir(root)
    runnable = {r.protocol for r in runnable_protocols(table).itertuples() if r.dataset == "digits" and r.runnable}
    loads = set()
    for protocol in ("holdout", "official"):
        try:
            load_data("digits", protocol, root)
            loads.add(protocol)
        except DataError as err:
            msg = str(err)
            assert "Fix:" in msg and "\n" not in msg and str(root) in msg, msg
    assert runnable == loads == set(), (case, runnable, loads, table[table.status != "ok"])
    assert snapshot(root) == before


def test_undamaged_raw_directory_is_runnable_and_loads(tmp_path, monkeypatch):
    """The control for the test above: the same directory without damage is runnable and loads."""
    from synth import make_emnist_dir

    from charclf.data import load_data, runnable_protocols, verify_data_dir

    monkeypatch.setenv("CHARCLF_CACHE_DIR", str(tmp_path / "cache"))
    root = make_emnist_dir(tmp_path / "data", splits=("digits",), layout="raw", mnist=False, holdout=True, n=120)
    runnable = {r.protocol for r in runnable_protocols(verify_data_dir(root)).itertuples()
                if r.dataset == "digits" and r.runnable}
    assert runnable == {"holdout", "official"}
    for protocol in runnable:
        assert load_data("digits", protocol, root).classes == tuple("0123456789")


def test_reordered_mapping_stops_training_with_one_line(tmp_path, capsys, monkeypatch):
    from synth import make_emnist_dir

    monkeypatch.setenv("CHARCLF_CACHE_DIR", str(tmp_path / "cache"))
    root = make_emnist_dir(tmp_path / "data", splits=("digits",), mnist=False, holdout=True, n=120)
    _swap_two_classes(root)
    before = snapshot(root)
    out = tmp_path / "run"
    line = cli_error(capsys, ["train", "--model", "lenet5_keras", "--split", "digits", "--epochs", "1",
                              "--data-dir", str(root), "--out", str(out), "--no-progress"])
    assert f"{_mapping(root)}: is not NIST's emnist-digits-mapping.txt" in line and "delete it" in line
    assert "other classes or another order" in line
    assert not out.exists() and snapshot(root) == before
    assert main(["data", "verify", "--data-dir", str(root)]) == 1
    table = capsys.readouterr().out
    assert "emnist-digits-mapping.txt" in table and "mismatch" in table and "is not NIST's" in table


def test_raw_idx_under_a_gz_name_says_to_rename_it(tmp_path, monkeypatch):
    from synth import make_emnist_dir

    from charclf.data.official import load_official

    monkeypatch.setenv("CHARCLF_CACHE_DIR", str(tmp_path / "cache"))
    root = make_emnist_dir(tmp_path / "data", splits=("digits",), layout="raw", mnist=False, n=120)
    _raw_under_gz_name(root)
    with pytest.raises(DataError, match=r"-images-idx3-ubyte.gz: holds raw \(un-gzipped\) idx data under a .gz name"
                                        r".*Fix: rename it to emnist-digits-test-images-idx3-ubyte"):
        load_official("digits", "test", root)


def test_official_mapping_files_pass_the_pinned_checksum(real_data_dir):
    from charclf.data.official import OFFICIAL_MAPPINGS, SPLITS, find_file, mapping_file, read_mapping

    for split in SPLITS:
        found = find_file(mapping_file(split), real_data_dir)
        assert found is not None and read_mapping(found, split)[0] == OFFICIAL_MAPPINGS[split]


def test_mapping_with_converted_line_endings_still_passes(tmp_path):
    """NIST ships CRLF; a copy with LF endings (git, an editor) is the same file and must load."""
    from synth import mapping_text

    from charclf.data.official import Located, read_mapping

    for split in ("byclass", "letters"):
        path = tmp_path / f"emnist-{split}-mapping.txt"
        path.write_bytes(mapping_text(split).encode())  # LF endings
        assert len(read_mapping(Located(path.name, path), split)[0]) in (62, 26)


def test_classic_mnist_raw_under_gz_name_is_damaged_not_ok(tmp_path, monkeypatch):
    """verify hashed the raw bytes and said "ok" (LeCun's md5 matches), while loading refused the file."""
    from synth import make_emnist_dir, mnist_files, mnist_md5_table

    from charclf.data import load_data, verify_data_dir

    monkeypatch.setenv("CHARCLF_CACHE_DIR", str(tmp_path / "cache"))
    root = make_emnist_dir(tmp_path / "data", splits=(), layout="raw", holdout=True)
    raw = root / "mnist" / "t10k-images-idx3-ubyte"
    raw.rename(raw.with_name(raw.name + ".gz"))
    table = verify_data_dir(root, mnist_md5=mnist_md5_table(mnist_files())).set_index("file")
    assert table.loc["t10k-images-idx3-ubyte.gz", "status"] == "damaged"
    assert "under a .gz name" in table.loc["t10k-images-idx3-ubyte.gz", "note"]
    with pytest.raises(DataError, match="under a .gz name"):
        load_data("classic-mnist", "holdout", root)


# -- 4. decode cache: keyed on content, not mtime (charclf.data.cache.content_key) ----------------------------
@pytest.mark.parametrize("where", ["start", "middle", "end"])
def test_file_corrupted_in_place_with_mtime_kept_is_not_served_from_the_cache(tmp_path, monkeypatch, where):
    """Issue 35 case 3: a same-size change anywhere, the middle of a file larger than any sample included."""
    import os

    from synth import make_emnist_dir

    from charclf.data.official import load_official, official_file

    monkeypatch.setenv("CHARCLF_CACHE_DIR", str(tmp_path / "cache"))
    # noise: the images .gz is ~3 MB, larger than the 2 MB the old key sampled from its two ends
    root = make_emnist_dir(tmp_path / "data", splits=("digits",), mnist=False, n=1500 if where == "middle" else 40)
    load_official("digits", "test", root)  # fills the cache
    assert len(list((tmp_path / "cache" / "idx").glob("*.npy"))) == 2
    path = root / "emnist" / official_file("digits", "test", "images")
    st = path.stat()
    data = bytearray(path.read_bytes())
    at = {"start": 40, "middle": len(data) // 2, "end": len(data) - 6}[where]  # deflate data / gzip trailer
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size, same mtime: only the content differs
    assert path.stat().st_mtime_ns == st.st_mtime_ns and path.stat().st_size == st.st_size
    with pytest.raises(DataError, match="emnist-digits-test-images-idx3-ubyte.gz: (the gzip |is truncated|is longer)"):
        load_official("digits", "test", root)


def test_content_key_covers_every_byte_and_the_size(tmp_path):
    from charclf.data.cache import content_key

    path = tmp_path / "big.bin"
    base = bytes(5 << 20)
    keys = set()
    for data in (base, b"\x01" + base[1:], base[:-1] + b"\x01", base + b"\x00",
                 base[:len(base) // 2] + b"\x01" + base[len(base) // 2 + 1:]):
        path.write_bytes(data)
        keys.add(content_key(path))
    assert len(keys) == 5


def test_copies_of_one_file_share_one_cache_entry_and_the_cache_is_bounded(tmp_path, monkeypatch):
    """Issue 35 case 18: one entry per content (not per path), and LRU eviction past $CHARCLF_CACHE_MAX_MB."""
    import shutil

    from synth import make_emnist_dir

    from charclf.data.official import load_official

    cache = tmp_path / "cache" / "idx"
    monkeypatch.setenv("CHARCLF_CACHE_DIR", str(tmp_path / "cache"))
    root = make_emnist_dir(tmp_path / "data", splits=("digits",), mnist=False, n=200)
    for i in range(5):
        shutil.copytree(root, tmp_path / f"copy{i}")
        load_official("digits", "test", tmp_path / f"copy{i}")
    assert len(list(cache.glob("*.npy"))) == 2  # images + labels, whatever the number of copies
    first = load_official("digits", "test", root)
    sizes = sum(p.stat().st_size for p in cache.glob("*.npy"))
    monkeypatch.setenv("CHARCLF_CACHE_MAX_MB", str(sizes / 2**20 * 1.5))  # room for one more split, not two
    other = make_emnist_dir(tmp_path / "other", splits=("digits",), mnist=False, n=200, seed=1)
    third = make_emnist_dir(tmp_path / "third", splits=("digits",), mnist=False, n=200, seed=2)
    load_official("digits", "test", other)
    load_official("digits", "test", third)
    assert sum(p.stat().st_size for p in cache.glob("*.npy")) <= sizes * 1.5
    again = load_official("digits", "test", root)  # evicted or not, the same arrays
    assert (again[0] == first[0]).all() and (again[1] == first[1]).all()


# -- 5. command-line arguments: ranges checked by argparse types (charclf.apps.cli.number) ---------------------------
BAD_ARGS = [
    (["train", "--model", "lenet5_keras", "--out", "{tmp}/run", "--max-train-samples", "0"], "--max-train-samples",
     "0 is out of range (need a whole number >= 1)"),
    (["train", "--model", "lenet5_keras", "--out", "{tmp}/run", "--max-train-samples", "-5"], "--max-train-samples",
     "-5 is out of range"),
    (["train", "--model", "lenet5_keras", "--out", "{tmp}/run", "--epochs", "0"], "--epochs", "out of range"),
    (["train", "--model", "lenet5_keras", "--out", "{tmp}/run", "--epochs", "2.5"], "--epochs",
     "'2.5' is not a whole number"),
    (["train", "--model", "lenet5_keras", "--out", "{tmp}/run", "--batch-size", "-1"], "--batch-size", "out of range"),
    (["train", "--model", "lenet5_keras", "--out", "{tmp}/run", "--lr", "0"], "--lr", "need a number > 0"),
    (["train", "--model", "lenet5_keras", "--out", "{tmp}/run", "--lr", "nan"], "--lr", "out of range"),
    (["train", "--model", "lenet5_keras", "--out", "{tmp}/run", "--lr", "inf"], "--lr", "out of range"),
    (["train", "--model", "lenet5_keras", "--out", "{tmp}/run", "--seed", "-1"], "--seed", "out of range"),
    (["predict", "x.png", "--top", "0"], "--top", "out of range"),
    (["demo", "--port", "0"], "--port", "need a whole number >= 1 and <= 65535"),
    (["demo", "--port", "70000"], "--port", "out of range"),
    (["demo", "--port", "http"], "--port", "'http' is not a whole number"),
    (["tune", "--model", "lenet", "--trials", "0"], "--trials", "out of range"),
    (["tune", "--model", "lenet", "--max-val-samples", "-3"], "--max-val-samples", "out of range"),
    (["bench", "--steps", "0"], "--steps", "out of range"),
    (["study", "--timeout", "-10"], "--timeout", "out of range"),
]


@pytest.mark.parametrize("argv, flag, expected", BAD_ARGS, ids=[" ".join(a[0][:1] + a[0][-2:]) for a in BAD_ARGS])
def test_out_of_range_arguments_are_one_line_errors(tmp_path, capsys, argv, flag, expected):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    before = snapshot(tmp_path)
    line = cli_error(capsys, argv)
    assert line.startswith(f"charclf {argv[0]}: error: argument {flag}") and expected in line, line
    assert f"Fix: see `charclf {argv[0]} --help`" in line
    assert snapshot(tmp_path) == before


def test_negative_or_zero_max_train_samples_in_a_config_file_is_refused(tmp_path):
    from synth import quadrant_bundle

    from charclf.errors import ConfigError
    from charclf.models import create_model
    from charclf.train import TrainConfig, fit

    for bad in (0, -5):
        cfg = TrainConfig(model="lenet5_keras", epochs=1, batch_size=32, max_train_samples=bad)
        with pytest.raises(ConfigError, match=f"max_train_samples={bad}: must be >= 1"):
            fit(create_model("lenet5_keras", num_classes=4), quadrant_bundle(), cfg, tmp_path / "run", progress=False)
        assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("n", [0, -5, 2.5])
def test_stratified_subset_refuses_sizes_that_are_not_counts(n):
    from charclf.data.dataset import stratified_indices
    from charclf.errors import ConfigError

    with pytest.raises(ConfigError, match="whole number of samples >= 1"):
        stratified_indices(np.arange(62 * 3) % 62, n)


def test_demo_on_a_busy_port_is_one_line(good_model, capsys):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        line = cli_error(capsys, ["demo", "--model", str(good_model), "--port", str(port)])
    assert f"127.0.0.1:{port}: cannot serve the demo there" in line and "another --port" in line


def test_free_port_passes_the_check():
    import socket

    from charclf.apps.demo import check_address

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    check_address("127.0.0.1", port)  # released above: free again
    check_address("127.0.0.1")  # no --port: the host alone


@pytest.mark.parametrize("host", ["999.1.1.1", "192.0.2.1", "no such host", "\u00e4" * 70])
@pytest.mark.parametrize("port", [None, 8123])
def test_demo_on_a_host_that_is_not_this_machine_is_one_line_naming_host(host, port):
    """Probe: `charclf demo --host 999.1.1.1` printed 'Name or service not known' every 5 s forever; with --port it
    blamed another program for using the port. 192.0.2.1 (TEST-NET) resolves but is no address of this machine."""
    from charclf.apps.demo import check_address

    with pytest.raises(CharclfError) as caught:
        check_address(host, port)
    assert str(caught.value).startswith(f"--host {host}: not a name or address of this machine (")
    assert "Fix: pass one of its addresses" in str(caught.value) and "another program" not in str(caught.value)


# -- 6. misleading messages ---------------------------------------------------------------------------------------
def _deny_open(monkeypatch, module, target: Path):
    """Make ``open(target)`` inside ``module`` fail with EACCES (tests run as root, whom chmod cannot lock out)."""
    import builtins

    def fake_open(file, *args, **kwargs):
        if Path(file) == target:
            raise PermissionError(13, "Permission denied", str(file))
        return builtins.open(file, *args, **kwargs)

    monkeypatch.setattr(module, "open", fake_open, raising=False)


def test_unreadable_image_is_reported_as_unreadable_not_corrupted(good_model, image, tmp_path, capsys, monkeypatch):
    import charclf.apps.imageprep as imageprep

    locked = tmp_path / "locked.png"
    shutil.copy(image, locked)
    _deny_open(monkeypatch, imageprep, locked)
    capsys.readouterr()
    assert main(["predict", str(image), str(locked), "--model", str(good_model)]) == 1  # the other file still runs
    captured = capsys.readouterr()
    assert str(image) in captured.out
    assert f"{locked}: cannot be read (permission denied)" in captured.err and "Fix:" in captured.err
    assert "truncated" not in captured.err and "corrupted" not in captured.err


@pytest.mark.parametrize("cache", [True, False])
def test_unreadable_data_file_is_reported_as_unreadable(tmp_path, monkeypatch, cache):
    from synth import make_emnist_dir

    import charclf.data.cache as cache_mod
    from charclf.data.official import load_official, official_file

    monkeypatch.setenv("CHARCLF_CACHE_DIR", str(tmp_path / "cache"))
    root = make_emnist_dir(tmp_path / "data", splits=("digits",), mnist=False, n=40)
    target = root / "emnist" / official_file("digits", "test", "images")
    _deny_open(monkeypatch, cache_mod, target)  # the cache key reads the file first ...
    real = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: (_ for _ in ()).throw(
        PermissionError(13, "Permission denied")) if self == target else real(self))  # ... and so does decoding
    with pytest.raises(DataError, match=rf"{target.name}: cannot be read \(permission denied\)\. Fix: give"):
        load_official("digits", "test", root, cache=cache)


def test_missing_holdout_file_gives_advice_the_cli_can_follow(tmp_path, capsys, monkeypatch):
    from synth import make_emnist_dir

    monkeypatch.setenv("CHARCLF_CACHE_DIR", str(tmp_path / "cache"))
    root = make_emnist_dir(tmp_path / "data", splits=("digits",), mnist=False, n=40)  # no protocols/ folder
    line = cli_error(capsys, ["train", "--model", "lenet5_keras", "--split", "digits", "--data-dir", str(root),
                              "--out", str(tmp_path / "run"), "--no-progress"])
    assert "digits-test-holdout.npz: holdout index file not found" in line and "--protocol official" in line
    assert "protocol_file" not in line


def test_resume_error_keeps_pytorchs_safety_explanation(finished_run, tmp_path):
    import argparse

    from synth import quadrant_bundle

    from charclf.errors import TrainingError
    from charclf.models import create_model
    from charclf.train import TrainConfig, fit

    folder = tmp_path / "run"
    shutil.copytree(finished_run, folder)
    torch.save({"format_version": 1, "payload": argparse.Namespace(cmd="rm -rf ~")}, folder / "resume.pt")
    before = snapshot(folder)
    cfg = TrainConfig(model="lenet5_keras", epochs=1, batch_size=32)
    with pytest.raises(TrainingError) as err:
        fit(create_model("lenet5_keras", num_classes=4), quadrant_bundle(), cfg, folder, resume=True, progress=False)
    msg = str(err.value)
    assert msg.startswith(f"{folder / 'resume.pt'}: PyTorch's safe loader refused the file") and "Fix:" in msg
    # PyTorch's own explanation, whole: the warning, the reason, and the pointer to its documentation.
    for part in ("do those steps only if you trust the source of the checkpoint", "arbitrary code execution",
                 "Unsupported global: GLOBAL argparse.Namespace", "Check the documentation of torch.load"):
        assert part in msg, part
    assert "\n" not in msg and "\x1b" not in msg
    assert snapshot(folder) == before


# -- 7. evaluate: a run folder's JSON files go through the same reader (charclf.models.hub.read_json) ------------------
@pytest.mark.parametrize("content, expected", [
    (b"[1, 2]", "is not a JSON object with an \"evaluation\" object"),
    (b'{"evaluation": [1]}', "is not a JSON object with an \"evaluation\" object"),
    (b"\xff\xfe", "is not UTF-8 text"),
    (b"{", "is not valid JSON"),
])
def test_evaluate_refuses_a_metrics_file_it_cannot_merge_into_before_any_work(good_model, tmp_path, capsys,
                                                                               monkeypatch, content, expected):
    import charclf.eval.evaluate as evaluate_mod

    folder = edited_copy(good_model, tmp_path / "run", lambda f: (f / "metrics.json").write_bytes(content))
    before = snapshot(folder)
    monkeypatch.setattr(evaluate_mod, "evaluate_model", lambda *a, **k: pytest.fail("evaluated a refused run"))
    line = cli_error(capsys, ["evaluate", str(folder), "--data-dir", str(tmp_path / "no-data")])
    assert f"{folder / 'metrics.json'}: {expected}" in line and "Fix:" in line
    assert snapshot(folder) == before


def test_evaluate_with_an_unreadable_train_config_says_how_to_choose_tta(good_model, tmp_path, capsys):
    folder = edited_copy(good_model, tmp_path / "run", lambda f: (f / "train_config.json").write_bytes(b"\xff"))
    line = cli_error(capsys, ["evaluate", str(folder), "--data-dir", str(tmp_path / "no-data")])
    assert f"{folder / 'train_config.json'}: is not UTF-8 text" in line and "--no-tta" in line


@pytest.mark.parametrize("make, expected", [
    (lambda p: p.mkdir(), "is a folder, not a file"),
    (lambda p: p.write_bytes(b"\xff{}"), "is not UTF-8 text"),
    (lambda p: None, "does not exist"),
])
def test_bad_config_file_for_train_is_one_line(tmp_path, capsys, make, expected):
    cfg = tmp_path / "cfg.json"
    make(cfg)
    line = cli_error(capsys, ["train", "--config", str(cfg), "--out", str(tmp_path / "run")])
    assert f"charclf train: error: {cfg}: {expected}" in line and "Fix:" in line
    assert not (tmp_path / "run").exists()


# -- probe of issue 35's classes: strings that reach the terminal, numbers in a config file ------------------------
@pytest.mark.parametrize("name", ["a\nb.png: A 0.999", "c\x1b[31mred.png", "d\u202egnp.exe", "e\tf\r.png"])
def test_a_file_name_printed_by_predict_stays_on_one_line_and_drives_no_terminal(good_model, image, tmp_path,
                                                                                   capsys, name):
    """A file name is escaped in predict's result lines, good and failed alike: it can neither forge a second
    result line (a newline) nor colour, clear or reorder the terminal (ANSI escapes, bidi overrides)."""
    good, bad = tmp_path / name, tmp_path / f"bad {name}"
    shutil.copy(image, good)
    bad.write_text("not an image")
    capsys.readouterr()
    assert main(["predict", "--model", str(good_model), "--top", "1", str(good), str(bad)]) == 1
    out, err = capsys.readouterr()
    for text in (out, err):
        assert len(text.strip().splitlines()) == 1, text
        assert not any(c in text for c in "\x1b\u202e\t\r"), text
    assert out.startswith(repr(str(good))[1:-1]) and "error:" in err


def test_whatever_a_command_prints_on_stdout_drives_no_terminal(capsys):
    """The CLI's stdout escapes ANSI escapes and bidi overrides in any print (a run folder, a verified path)."""
    from charclf.apps import cli

    printed = []
    original = cli._main
    try:
        cli._main = lambda argv: printed.append(print("run folder: /tmp/x\x1b[2J\u202eyz\n\tnext")) or 0
        assert cli.main([]) == 0
    finally:
        cli._main = original
    assert capsys.readouterr().out == "run folder: /tmp/x\\x1b[2J\\u202eyz\n\tnext\n"


@pytest.mark.parametrize("field, value, says", [
    ("optimizer.lr", 1e308, "must be > 0 and <= 10"), ("optimizer.lr", "NaN", "finite"),
    ("optimizer.weight_decay", "NaN", "finite"), ("optimizer.momentum", 1e300, "must be in [0, 1)"),
    ("optimizer.betas", [2.0, "Infinity"], "finite"), ("ema_decay", "NaN", "finite"), ("ema_decay", 1.5, "(0, 1)"),
    ("label_smoothing", 10 ** 400, "finite"), ("seed", 10 ** 20, "TrainConfig.seed"), ("seed", -3, "TrainConfig.seed"),
    ("early_stopping_patience", -2, "early_stopping_patience"), ("epochs", 0, "TrainConfig.epochs=0"),
    ("batch_size", 0, "TrainConfig.batch_size=0"), ("augment.crop_padding", -5, "crop_padding=-5")])
def test_a_config_file_with_an_absurd_number_is_one_line_before_any_work(tmp_path, capsys, field, value, says):
    """Every number of a --config file is checked as --lr and --seed are on the command line: NaN, Infinity, a
    float beyond range, an lr of 1e308 or a seed beyond 2**64 is one line, and no run folder is made."""
    cfg = {"model": "lenet5_keras", "epochs": 1, "optimizer": {}}
    *parents, last = field.split(".")
    node = cfg
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    text = json.dumps(cfg).replace('"NaN"', "NaN").replace('"Infinity"', "Infinity")
    path = tmp_path / "cfg.json"
    path.write_text(text)
    out = tmp_path / "run"
    line = cli_error(capsys, ["train", "--config", str(path), "--out", str(out), "--no-progress",
                              "--data-dir", str(tmp_path / "no-data")])
    assert says in line and str(path) in line, line  # the file the value came from is named
    assert not out.exists()


@pytest.mark.parametrize("flag", ["--seed"])
@pytest.mark.parametrize("command", ["train", "tune", "bench"])
def test_a_seed_beyond_what_the_generators_take_is_refused_by_the_argument_check(tmp_path, capsys, command, flag):
    line = cli_error(capsys, [command, flag, str(2 ** 64), "--out", str(tmp_path / "x")])
    assert "--seed" in line and "out of range" in line


@pytest.mark.parametrize("argv, says", [
    (["race", "--seeds", "3," + str(10 ** 23)], "--seeds"),  # was a torch overflow traceback
    (["race", "--threads", "100000"], "--threads"),  # was a segfault in torch.set_num_threads
    (["bench", "--threads", "100000"], "--threads"),
    (["bench", "--workers", "0,100000"], "--workers"),  # would fork 100000 DataLoader workers
    (["bench", "--batch-size", "99999999999"], "--batch-size"),  # was a MemoryError traceback
    (["train", "--batch-size", "99999999999", "--model", "lenet5_keras"], "--batch-size")])
def test_absurd_thread_worker_batch_and_seed_counts_are_refused_in_one_line(tmp_path, capsys, argv, says):
    line = cli_error(capsys, [*argv, "--out", str(tmp_path / "out.json")])
    assert says in line and ("out of range" in line or "<=" in line), line
    assert not (tmp_path / "out.json").exists()


@pytest.mark.parametrize("target", ["self", "missing.png"])
def test_a_looping_or_dangling_symlink_is_named_as_a_link_not_a_missing_file(good_model, tmp_path, capsys, target):
    link = tmp_path / "link.png"
    link.symlink_to(link if target == "self" else tmp_path / target)
    capsys.readouterr()
    assert main(["predict", "--model", str(good_model), str(link)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "symbolic link" in err and "not found" not in err, err


def test_a_folder_name_with_a_newline_stays_on_its_line_in_data_verify(tmp_path, capsys):
    """Paths a command prints as its result (data verify's folder, train's run folder, evaluate's metrics.json,
    'wrote ...') are escaped: a newline in a folder name cannot forge a line of the table below it."""
    folder = tmp_path / "d\x1b[31m\nok  byclass test images ok"
    (folder / "emnist").mkdir(parents=True)
    capsys.readouterr()
    main(["data", "verify", "--data-dir", str(folder)])
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("data directory: ") and first.endswith("\\nok  byclass test images ok"), first
    assert "\x1b" not in first


@pytest.mark.parametrize("fmt", ["GIF", "TIFF"])
def test_a_multi_frame_image_is_refused_in_one_line_not_read_by_its_first_frame(tmp_path, fmt):
    """A blank first frame used to be refused as 'blank' and a multi-page scan's later characters silently
    ignored: a file of several frames is refused, naming the count, and the other files still get answers."""
    from PIL import Image, ImageDraw

    from charclf.apps.imageprep import load_image
    from charclf.errors import ImageError

    blank = Image.new("L", (64, 64), 255)
    inked = blank.copy()
    ImageDraw.Draw(inked).line([(32, 8), (32, 56)], fill=0, width=6)
    path = tmp_path / f"two.{fmt.lower()}"
    blank.save(path, format=fmt, save_all=True, append_images=[inked])
    with pytest.raises(ImageError, match=r"holds 2 frames .* Fix: save the frame or page you want"):
        load_image(path)
    single = tmp_path / f"one.{fmt.lower()}"
    inked.save(single, format=fmt)
    assert load_image(single).size == (64, 64)


# -- a command's result never replaces an earlier one without --overwrite -------------------------------------
def _earlier_result(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"an": "earlier run"}\n')
    return path


@pytest.mark.parametrize("argv, where", [
    (["race", "--device", "cpu", "--seeds", "3"], "race.json"),
    (["bench", "--device", "cpu", "--models", "lenet"], "bench.json"),
    (["bench", "--device", "cpu", "--models", "lenet"], None),  # the default path: outputs/bench/bench-cpu.json
    (["evaluate-images", "--sample", "--workers", "1"], None),  # outputs/realworld/sample-model_hub-default.json
    (["evaluate-images", "--sample", "--workers", "1"], "gallery only"),  # its .png alone is a result too
    (["evaluate-images", "--sample", "--workers", "1", "--ablation", "--steps", "thin"], None),  # other inputs
], ids=["race --out", "bench --out", "bench default", "evaluate-images", "evaluate-images png",
        "evaluate-images --ablation"])
def test_a_result_is_not_replaced_without_overwrite(argv, where, tmp_path, monkeypatch, capsys):
    outputs = tmp_path / "outputs"
    monkeypatch.setenv("CHARCLF_OUTPUTS_DIR", str(outputs))
    if where in ("race.json", "bench.json"):
        earlier = _earlier_result(tmp_path / where)
        argv = [*argv, "--out", str(earlier)]
    elif argv[0] == "bench":
        earlier = _earlier_result(outputs / "bench" / "bench-cpu.json")
    elif "--ablation" in argv:
        earlier = _earlier_result(outputs / "realworld" / "ablation-sample-model_hub-default.json")
    else:
        earlier = _earlier_result(outputs / "realworld" / "sample-model_hub-default.json")
        if where == "gallery only":
            earlier.unlink()
            earlier = _earlier_result(earlier.with_suffix(".png"))
    before = snapshot(tmp_path)
    line = cli_error(capsys, [*argv, "--data-dir", str(tmp_path / "nowhere")] if argv[0] in ("race", "bench")
                     else argv)
    assert str(earlier) in line and "--overwrite" in line and "Fix:" in line
    assert snapshot(tmp_path) == before


def test_the_latency_benchmark_does_not_replace_an_earlier_result(tmp_path, capsys):
    import importlib.util

    tool = Path(__file__).resolve().parents[1] / "tools" / "bench_predict_latency.py"
    spec = importlib.util.spec_from_file_location("bench_predict_latency", tool)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    earlier = _earlier_result(tmp_path / "latency.json")
    before = snapshot(tmp_path)
    assert module.main(["--out", str(earlier)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(earlier) in err and "--overwrite" in err
    assert snapshot(tmp_path) == before


@pytest.fixture(scope="module")
def fast_model(tmp_path_factory):
    """A minivision_s folder: the architecture `charclf predict` runs through its numpy path."""
    import torch

    from charclf.models import create_model
    from charclf.models.hub import save_pretrained

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("fast") / "m"
    save_pretrained(create_model("minivision_s", num_classes=4), folder, architecture="minivision_s",
                    num_classes=4, labels=list("abcd"), mean=0.17, std=0.33, protocol="holdout")
    return folder


@pytest.mark.parametrize("change,expected", [(with_config(mean=5.0), "'mean' must be a finite number in [0, 1]"),
                                             (with_config(input_size=[32, 32]), "'input_size' must be [28, 28]"),
                                             (with_config(mean="0.17"), "'mean' must be a finite number")])
def test_the_numpy_predict_path_refuses_what_the_torch_loader_refuses(fast_model, image, tmp_path, capsys, change,
                                                                     expected):
    folder = edited_copy(fast_model, tmp_path / "m", change)
    line = cli_error(capsys, ["predict", str(image), "--model", str(folder)])
    assert f"{folder / 'config.json'}:" in line and expected in line and "Fix:" in line, line


def test_weights_holding_nan_are_refused_not_predicted_with(fast_model, image, tmp_path, capsys):
    from safetensors.torch import load_file, save_file

    folder = edited_copy(fast_model, tmp_path / "m", lambda d: None)
    state = load_file(str(folder / "model.safetensors"))
    state["classifier.4.bias"][0] = float("nan")  # what a diverged run saves
    save_file(state, str(folder / "model.safetensors"))
    with pytest.raises(DataError, match="holds NaN or infinite values"):
        load_model(folder)
    line = cli_error(capsys, ["predict", str(image), "--model", str(folder)])
    assert "holds NaN or infinite values (in classifier.4.bias)" in line and "Fix:" in line, line


def test_data_verify_calls_a_truncated_download_damaged_not_another_file(tmp_path):
    """A .gz cut short (an interrupted download) differs from the official checksum like any other file would;
    verify says what it is, as loading does, instead of "sha256 differs"."""
    from synth import make_emnist_dir

    from charclf.data import verify_data_dir
    from charclf.data.official import official_file

    root = make_emnist_dir(tmp_path / "data", splits=("digits",), mnist=False, n=120)
    cut = root / "emnist" / official_file("digits", "test", "images")
    cut.write_bytes(cut.read_bytes()[:-200])
    rows = verify_data_dir(root).set_index("file")
    assert rows.loc[cut.name, "status"] == "damaged" and "truncated" in rows.loc[cut.name, "note"]
    whole = official_file("digits", "test", "labels")  # synthetic, so not NIST's bytes: another file, whole
    assert rows.loc[whole, "status"] == "mismatch"


def test_a_damaged_config_or_seeds_file_of_a_model_folder_is_one_line_naming_it(tmp_path):
    """Review: the model card and predict's model line read config.json / seeds.json with json.loads: a damaged
    file was a JSONDecodeError traceback."""
    from records import write_fake_run

    from charclf.apps.modelcard import model_card
    from charclf.apps.predict import describe_model
    from charclf.errors import DataError

    folder = tmp_path / "model"
    write_fake_run(folder)
    (folder / "config.json").write_text('{"architecture": ')
    with pytest.raises(DataError, match="config.json: is not valid JSON"):
        model_card(folder, title="t")
    with pytest.raises(DataError, match="config.json: is not valid JSON"):
        describe_model(folder, "model_hub/x")
