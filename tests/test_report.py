"""The README's results come from artifacts: check the table is built from run folders and the README block is replaced."""
import pytest
from records import write_fake_run

from charclf.study import report

write_readme = pytest.importorskip("write_readme")  # tools/, on the path in a clone (conftest)


def _fake_run(folder, *, test_acc, protocol="holdout", arch="lenet", **kw):
    return write_fake_run(folder, test_acc=test_acc, protocol=protocol, model=arch, **kw)


def test_table_rows_come_from_run_folders(tmp_path):
    _fake_run(tmp_path / "runs" / "quick" / "a", test_acc=0.4321)
    _fake_run(tmp_path / "runs" / "quick" / "b", test_acc=0.6789, arch="lenet5_keras")
    (tmp_path / "runs" / "quick" / "not-a-run").mkdir()
    df = report.run_rows(tmp_path / "runs")
    assert sorted(df["test_acc"]) == [0.4321, 0.6789]
    assert set(df["model"]) == {"lenet", "lenet5_keras"}
    assert df.loc[df["model"] == "lenet", "params"].item() == 35_814  # from the record: no model rebuilt


def test_markdown_names_protocol_and_artifact(tmp_path, monkeypatch):
    monkeypatch.setenv("CHARCLF_OUTPUTS_DIR", str(tmp_path))
    _fake_run(tmp_path / "runs" / "quick" / "a", test_acc=0.4321)
    md = report.results_markdown(tmp_path / "runs", smoke=True)  # the quick profile: the smoke-test block
    assert "43.21%" in md and "holdout protocol" in md and "quick profile" in md
    assert "61.00%" in md  # merged-47 from the evaluation block


def test_write_readme_replaces_only_the_marked_block(tmp_path, monkeypatch):
    monkeypatch.setenv("CHARCLF_OUTPUTS_DIR", str(tmp_path))
    _fake_run(tmp_path / "runs" / "cpu" / "a", test_acc=0.8)
    readme = tmp_path / "RESULTS.md"
    readme.write_text(f"intro\n{write_readme.START}\nOLD-BLOCK\n{write_readme.END}\nmiddle\n"
                      "<!-- SMOKE:START -->\n<!-- SMOKE:END -->\noutro\n")
    write_readme.write_readme(readme, tmp_path / "runs")
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith("outro\n") and "OLD-BLOCK" not in text and "80.00%" in text
    assert "\nmiddle\n" in text
    readme.write_text("no markers")
    with pytest.raises(ValueError, match="RESULTS:START"):
        write_readme.write_readme(readme, tmp_path / "runs")


def test_smoke_profile_stays_out_of_the_results(tmp_path, monkeypatch):
    monkeypatch.setenv("CHARCLF_OUTPUTS_DIR", str(tmp_path))
    _fake_run(tmp_path / "runs" / "quick" / "04_training" / "charnet_s-seed0", test_acc=0.0667, arch="charnet_s")
    _fake_run(tmp_path / "runs" / "full" / "04_training" / "vgg-seed0", test_acc=0.86, arch="vgg")
    results = report.results_markdown(tmp_path / "runs")
    smoke = report.results_markdown(tmp_path / "runs", smoke=True)
    assert "6.67%" not in results and "86.00%" in results
    assert "6.67%" in smoke and "86.00%" not in smoke


def test_a_run_folder_with_weights_but_no_record_is_named_not_dropped(tmp_path, monkeypatch):
    """Probe: deleting one seed's metrics.json changed a model's mean +- std from 3 seeds to 2 without a word."""
    monkeypatch.setenv("CHARCLF_OUTPUTS_DIR", str(tmp_path))
    _fake_run(tmp_path / "runs" / "full" / "04_training" / "vgg-seed0", test_acc=0.86, arch="vgg")
    assert "Not in these tables" not in report.results_markdown(tmp_path / "runs")
    lost = tmp_path / "runs" / "full" / "04_training" / "vgg-seed1"
    lost.mkdir(parents=True)
    (lost / "model.safetensors").write_bytes(b"w")
    going = tmp_path / "runs" / "full" / "11_beyond" / "minivision_s-seed1"
    going.mkdir(parents=True)
    (going / "model.safetensors").write_bytes(b"w")
    (going / "resume.pt").write_bytes(b"r")
    # Probe: a record replaced by valid JSON that is no record (a bare evaluation) dropped the run silently.
    bare = tmp_path / "runs" / "full" / "04_training" / "vgg-seed2"
    bare.mkdir(parents=True)
    (bare / "model.safetensors").write_bytes(b"w")
    (bare / "metrics.json").write_text('{"evaluation": {"val": {"accuracy": 0.8}}}')
    md = report.results_markdown(tmp_path / "runs")
    assert "**Not in these tables:** 3 run folder(s) with weights but no run record" in md
    assert "vgg-seed1` (no metrics.json)" in md and "minivision_s-seed1` (unfinished)" in md
    assert "vgg-seed2` (metrics.json is not a run record)" in md
    assert "Not in these tables" not in report.results_markdown(tmp_path / "runs", smoke=True)  # other profile


def test_tables_show_training_and_selection_precision(tmp_path, monkeypatch):
    monkeypatch.setenv("CHARCLF_OUTPUTS_DIR", str(tmp_path))
    _fake_run(tmp_path / "runs" / "full" / "02_augmentation" / "a", test_acc=0.8, precision="bf16")
    md = report.results_markdown(tmp_path / "runs")
    assert "precision (train / val)" in md and "| bf16 / bf16 |" in md  # an old run: val ran as it trained
    assert report.precision_label(["bf16", "fp32"], ["fp32", None]) == "bf16 ×1, fp32 ×1 / val fp32"


def test_a_precision_label_says_when_the_epoch_was_chosen_on_val_in_another_precision():
    # an older bf16 run re-scored on val in float32 chose its epoch on bf16 val: the label must not hide it
    assert report.precision_label(["bf16"] * 2, ["fp32"] * 2, [None] * 2) == \
        "bf16 / val fp32, epoch chosen on bf16 val"
    assert report.precision_label(["bf16"] * 2, ["fp32"] * 2, ["fp32", None]) == \
        "bf16 / val fp32, epoch chosen on bf16 ×1, fp32 ×1 val"
    assert report.precision_label(["bf16"] * 2, ["fp32"] * 2, ["fp32"] * 2) == "bf16 / val fp32"


def test_each_generated_file_of_the_repository_gets_its_own_blocks(tmp_path):
    """Review: write_readme looked blocks up by file name, so model_hub/README.md got README.md's FINDINGS block."""
    from charclf.provenance import REPO_ROOT

    assert [name for name, _ in write_readme.blocks_for(REPO_ROOT / "model_hub" / "README.md")] == ["HUB"]
    assert [name for name, _ in write_readme.blocks_for(REPO_ROOT / "README.md")] == ["FINDINGS"]
    assert [name for name, _ in write_readme.blocks_for(tmp_path / "README.md")] == ["FINDINGS"]  # a copy: by name
    assert [name for name, _ in write_readme.blocks_for(tmp_path / "OTHER.md")] == ["RESULTS"]


def test_first_difference_names_the_line():
    assert write_readme.first_difference("a\nb\n", "a\nb\n") is None
    assert write_readme.first_difference("a\nb", "a\nc").startswith("line 2: committed 'b'")
    assert "has 1 lines" in write_readme.first_difference("a", "a\nb")


def test_readme_fits_a_few_screens_and_its_blocks_are_current():
    from charclf.provenance import REPO_ROOT

    assert len((REPO_ROOT / "README.md").read_text().splitlines()) <= 200
    assert write_readme.check() == []  # else: python tools/write_readme.py


def test_train_images_counts_the_images_trained_on(tmp_path):
    # An MNIST transfer run: the data's train part holds 54,000 images, fit trained on a 3,000-image subset.
    _fake_run(tmp_path / "runs" / "quick" / "a", test_acc=0.9, train_samples=3000,
              data={"split": "mnist", "protocol": "holdout", "num_classes": 10,
                    "sizes": {"train": 54_000, "val": 6000, "test": 10_000}})
    assert report.run_rows(tmp_path / "runs")["train_images"].tolist() == [3000]
    assert "| 3,000 |" in report.results_markdown(tmp_path / "runs", smoke=True)


def test_seed_stats_is_the_one_aggregation_over_seeds(tmp_path):
    for seed, acc in enumerate((0.80, 0.82, 0.84)):
        _fake_run(tmp_path / "runs" / "full" / "04_training" / f"vgg-seed{seed}", test_acc=acc, arch="vgg", seed=seed)
    stats = report.seed_stats(report.run_rows(tmp_path / "runs")).loc["vgg"]
    assert stats.n == 3 and stats.test_mean == pytest.approx(0.82) and stats.test_std == pytest.approx(0.02)
    assert "| `vgg` | 3 | " in report.results_markdown(tmp_path / "runs")  # a count, not "3.0"
    assert "**82.00% ± 2.00%** | no |" in report.results_markdown(tmp_path / "runs")  # TTA stated


def test_seed_table_says_when_seeds_mix_tta(tmp_path):
    for seed, tta in enumerate((True, False)):
        _fake_run(tmp_path / "runs" / "full" / "04_training" / f"vgg-seed{seed}", test_acc=0.8, arch="vgg", seed=seed,
                  tta=tta)
    assert "| mixed |" in report.results_markdown(tmp_path / "runs")


def test_a_profile_without_notebook_04_runs_gets_no_empty_main_table(tmp_path):
    # MNIST transfer runs live only under 08_mnist_transfer: their table is the experiment's, not an empty header.
    _fake_run(tmp_path / "runs" / "quick" / "08_mnist_transfer" / "seed0" / "scratch", test_acc=0.97,
              data={"split": "classic-mnist", "protocol": "official", "num_classes": 10,
                    "sizes": {"train": 54_000, "val": 6000, "test": 10_000}})
    md = report.results_markdown(tmp_path / "runs", smoke=True)
    assert "| model | params |" not in md
    assert "`08_mnist_transfer` (quick profile)" in md and "| seed0/scratch |" in md


DAMAGED = [b'{"results": [', b"{}", b"\xff", b"[1]", b'{"results": [{"model": "x"}]}']


@pytest.mark.parametrize("content", DAMAGED)
def test_report_on_a_damaged_bench_json_is_one_line_naming_it(tmp_path, monkeypatch, capsys, content):
    """Probe: a truncated, emptied or non-UTF-8 bench-cpu.json gave JSONDecodeError / KeyError / UnicodeDecodeError."""
    from charclf.apps.cli import main

    monkeypatch.setenv("CHARCLF_OUTPUTS_DIR", str(tmp_path))
    (tmp_path / "runs").mkdir()  # no run yet: the report still reads the bench (it raised KeyError 'profile')
    bench = tmp_path / "bench" / "bench-cpu.json"
    bench.parent.mkdir()
    bench.write_bytes(content)
    assert main(["report"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{bench}: " in err and "Fix: run `charclf bench` again" in err
    assert bench.read_bytes() == content  # left as it was


@pytest.mark.parametrize("rel, read", [
    ("outputs/bench/bench-cpu-time-to-accuracy.json", "race_rows"),
    ("outputs/bench/bench-cpu-avx2-time-to-accuracy.json", "avx2_race_rows"),
    ("outputs/runs/full/11_beyond/ensemble/results.json", "findings_rows"),
    ("outputs/runs/full/08_mnist_transfer/seed0/results.json", "mnist_table"),
    ("outputs/realworld/model_hub-default.json", "realworld_rows"),
    ("outputs/label_audit/label-audit.json", "audit_rows"),
])
@pytest.mark.parametrize("content", DAMAGED[:4])
def test_the_findings_name_a_damaged_artifact(tmp_path, rel, read, content):
    from charclf.errors import DataError
    from charclf.study import headline

    (tmp_path / rel).parent.mkdir(parents=True)
    (tmp_path / rel).write_bytes(content)
    with pytest.raises(DataError, match=f"^{tmp_path / rel}: .*Fix: restore it with git"):
        getattr(headline, read)(tmp_path)


def _clone_with_readmes(tmp_path, monkeypatch):
    """A repository holding tools/write_readme.py and the three files of its BLOCKS, with stale blocks."""
    import shutil

    import charclf.provenance as provenance

    (tmp_path / "tools").mkdir()
    (tmp_path / "model_hub").mkdir()
    shutil.copy(provenance.REPO_ROOT / "tools" / "write_readme.py", tmp_path / "tools")
    for name, blocks in write_readme.BLOCKS.items():
        (tmp_path / name).write_text("".join(f"<!-- {m}:START -->\nOLD\n<!-- {m}:END -->\n" for m, _ in blocks))
    monkeypatch.setattr(provenance, "REPO_ROOT", tmp_path)
    monkeypatch.setenv("CHARCLF_OUTPUTS_DIR", str(tmp_path / "outputs"))
    return tmp_path


def test_charclf_readme_rewrites_every_generated_file_as_the_tool_does(tmp_path, monkeypatch, capsys):
    """Probe: `charclf readme` rewrote README.md only; the tool rewrites README.md, RESULTS.md and
    model_hub/README.md."""
    from charclf.apps.cli import main

    repo = _clone_with_readmes(tmp_path, monkeypatch)
    assert main(["readme", "--check"]) == 1  # the tool's --check: stale blocks fail it
    assert main(["readme"]) == 0
    assert all("OLD" not in (repo / name).read_text() for name in write_readme.BLOCKS)
    assert capsys.readouterr().out.count("updated ") == len(write_readme.BLOCKS)
    assert main(["readme", "--check"]) == 0


@pytest.mark.parametrize("damage, problem", [
    (lambda p: p.write_bytes(b"\xff<!-- RESULTS:START -->"), "is not UTF-8 text (byte 0xff at offset 0)"),
    (lambda p: (p.unlink(), p.mkdir()), "is a folder, not a file"),
])
@pytest.mark.parametrize("argv", [["readme"], ["readme", "--check"]])
def test_charclf_readme_on_an_unreadable_file_is_one_line_and_writes_nothing(tmp_path, monkeypatch, capsys, damage,
                                                                             problem, argv):
    from charclf.apps.cli import main

    repo = _clone_with_readmes(tmp_path, monkeypatch)
    damage(repo / "RESULTS.md")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{repo / 'RESULTS.md'}: {problem}. Fix: restore it with git" in err
    assert "OLD" in (repo / "README.md").read_text()  # rendered before RESULTS.md, yet not written
