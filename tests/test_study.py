"""The study runner on two tiny throwaway notebooks: parameter injection, loud failures, the summary table."""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

from records import write_fake_run  # noqa: E402

from charclf.errors import ConfigError, DataError  # noqa: E402
from charclf.study.runner import (  # noqa: E402
    FINDINGS_NOTEBOOK,
    NotebookNeedsTraining,
    StudyError,
    execution_order,
    find_notebooks,
    format_summary,
    inject_parameters,
    run_study,
    summarize_runs,
)


def _notebook(path, code_cells):
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell("# a tiny study notebook"))
    params = nbformat.v4.new_code_cell('PROFILE = "quick"\nDATA_DIR = None\nPROTOCOL = "holdout"\n'
                                       'SEED = 0\nRETRAIN = False')
    params.metadata["tags"] = ["parameters"]
    nb.cells.append(params)
    nb.cells += [nbformat.v4.new_code_cell(src) for src in code_cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


@pytest.fixture
def tiny_study(tmp_path):
    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    _notebook(nbdir / "00_first.ipynb", ['print(f"profile={PROFILE} seed={SEED} retrain={RETRAIN}")',
                                         'import os; print("cwd=" + os.path.basename(os.getcwd()))'])
    _notebook(nbdir / "01_second.ipynb", ["x = 6 * 7", "print(x, PROTOCOL)"])
    return nbdir


def _stdout(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")


@pytest.mark.slow  # runs Jupyter kernels
def test_injected_parameters_reach_the_kernel_and_defaults_stay_committed(tiny_study, tmp_path):
    out = tmp_path / "executed"
    results = run_study("full", data_dir=tmp_path, seed=7, retrain=True, notebooks=tiny_study, out_dir=out,
                        echo=lambda *a, **k: None)
    assert [r.name for r in results] == ["00_first", "01_second"]
    first = nbformat.read(out / "00_first.ipynb", as_version=4)
    assert "profile=full seed=7 retrain=True" in _stdout(first.cells[2])
    assert _stdout(first.cells[3]).strip() == "cwd=notebooks"  # executed from the notebooks folder
    params = first.cells[1]
    assert 'PROFILE = "quick"' in params.source  # the committed default is kept in the code ...
    assert "PROFILE = 'full'" in _stdout(params)  # ... and what ran is shown as the cell's output
    assert first.metadata["charclf_study"]["parameters"]["SEED"] == 7
    assert all(c.get("execution_count") is None for c in first.cells if c.cell_type == "code")
    second = nbformat.read(out / "01_second.ipynb", as_version=4)
    assert _stdout(second.cells[3]).strip() == "42 holdout"
    # the sources themselves were not rewritten when an out_dir is given
    assert nbformat.read(tiny_study / "00_first.ipynb", as_version=4).cells[2].outputs == []


def test_only_selects_by_number_and_rejects_unknown(tiny_study):
    assert [p.name for p in find_notebooks(tiny_study, "1")] == ["01_second.ipynb"]
    assert [p.name for p in find_notebooks(tiny_study, "01,00")] == ["00_first.ipynb", "01_second.ipynb"]
    with pytest.raises(Exception, match="09"):
        find_notebooks(tiny_study, "09")


@pytest.mark.slow  # runs Jupyter kernels
def test_a_failing_notebook_fails_loudly_naming_notebook_and_cell(tiny_study, tmp_path):
    _notebook(tiny_study / "02_broken.ipynb", ["y = 1", "raise ValueError('the data is wrong')", "print('never')"])
    before = (tiny_study / "02_broken.ipynb").read_text()
    with pytest.raises(StudyError) as info:
        run_study("quick", only="02", data_dir=tmp_path, notebooks=tiny_study, echo=lambda *a, **k: None)
    msg = str(info.value)
    assert "02_broken.ipynb" in msg and "cell 3" in msg
    assert "ValueError: the data is wrong" in msg
    assert (tiny_study / "02_broken.ipynb").read_text() == before  # the committed notebook is untouched


def test_the_findings_notebook_executes_after_the_notebooks_whose_artifacts_it_reads(tmp_path):
    paths = [tmp_path / f"{stem}.ipynb" for stem in (FINDINGS_NOTEBOOK, "01_data", "11_beyond", "12_audit")]
    assert [p.stem for p in execution_order(paths)] == ["01_data", "11_beyond", "12_audit", FINDINGS_NOTEBOOK]
    assert execution_order(paths[1:]) == paths[1:]


@pytest.mark.slow  # runs Jupyter kernels
def test_one_study_run_leaves_the_findings_showing_what_a_later_notebook_wrote(tmp_path):
    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    artifact = tmp_path / "artifact.txt"
    artifact.write_text("previous render")
    _notebook(nbdir / f"{FINDINGS_NOTEBOOK}.ipynb", [f"print(open({str(artifact)!r}).read())"])
    _notebook(nbdir / "11_beyond.ipynb", [f"open({str(artifact)!r}, 'w').write('this render')"])
    out = tmp_path / "executed"
    results = run_study("full", data_dir=tmp_path, notebooks=nbdir, out_dir=out, echo=lambda *a, **k: None)
    assert [r.name for r in results] == ["11_beyond", FINDINGS_NOTEBOOK]
    findings = nbformat.read(out / f"{FINDINGS_NOTEBOOK}.ipynb", as_version=4)
    assert _stdout(findings.cells[2]).strip() == "this render"


@pytest.mark.parametrize("flag", ["--out-dir", "--kernel"])
def test_an_unusable_out_dir_or_kernel_is_one_line_before_any_notebook_runs(tiny_study, tmp_path, monkeypatch,
                                                                            capsys, flag):
    from charclf.apps.cli import main
    from charclf.study import runner

    monkeypatch.setattr(runner, "execute_notebook", lambda *a, **k: pytest.fail("a notebook ran"))
    monkeypatch.setenv("CHARCLF_OUTPUTS_DIR", str(tmp_path / "outputs"))
    taken = tmp_path / "a-file"
    taken.write_text("not a folder")
    before = {p: p.read_bytes() for p in [taken, *tiny_study.iterdir()]}
    value, says = (str(taken), "is a file") if flag == "--out-dir" else ("nosuchkernel", "unknown Jupyter kernel")
    capsys.readouterr()
    rc = main(["study", "--notebooks-dir", str(tiny_study), "--data-dir", str(tmp_path), "--no-download", flag, value])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and says in err and "Fix:" in err, err
    assert {p: p.read_bytes() for p in [taken, *tiny_study.iterdir()]} == before


def test_a_damaged_timings_file_is_one_line_before_any_notebook_runs(tiny_study, tmp_path, monkeypatch, capsys):
    """Probe (by reading): the timings file was read with json.loads after every notebook had run."""
    from charclf.apps.cli import main
    from charclf.study import runner

    monkeypatch.setattr(runner, "execute_notebook", lambda *a, **k: pytest.fail("a notebook ran"))
    monkeypatch.setenv("CHARCLF_OUTPUTS_DIR", str(tmp_path / "outputs"))
    timings = tmp_path / "outputs" / "study" / "quick-render-timings.json"
    timings.parent.mkdir(parents=True)
    for damaged in ('{"notebook_seconds": {', '{"notebook_seconds": [1]}'):
        timings.write_text(damaged)
        rc = main(["study", "--profile", "quick", "--notebooks-dir", str(tiny_study), "--data-dir", str(tmp_path),
                   "--no-download"])
        err = capsys.readouterr().err.strip()
        assert rc == 2 and len(err.splitlines()) == 1 and "quick-render-timings.json" in err and "Fix:" in err, err
        assert timings.read_text() == damaged


def test_a_damaged_notebook_is_one_line_naming_it(tiny_study, tmp_path):
    (tiny_study / "01_second.ipynb").write_text('{"cells": [')
    with pytest.raises(DataError, match="01_second.ipynb: is not valid JSON"):
        run_study("quick", only="01", data_dir=tmp_path, notebooks=tiny_study, echo=lambda *a, **k: None)


def test_a_notebook_without_parameters_cell_is_refused(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("PROFILE = 'quick'")])
    with pytest.raises(StudyError, match="parameters"):
        inject_parameters(nb, {"PROFILE": "full"}, "03_untagged.ipynb")


def test_summary_reads_the_run_records(tmp_path):
    runs = tmp_path / "runs" / "quick"
    write_fake_run(runs / "vgg", model="vgg", params=1234567, best_val_acc=0.8123, test_acc=0.8011)
    (runs / "06").mkdir(parents=True)
    (runs / "06" / "metrics.json").write_text(json.dumps({"evaluation": {"test": {"accuracy": 0.5}}}))
    df = summarize_runs(runs)
    assert list(df["run"]) == ["vgg"]  # a bare evaluation is not a run record
    vgg = df.set_index("run").loc["vgg"]
    assert (vgg["model"], vgg["params"], vgg["val_acc"], vgg["test_acc"]) == ("vgg", 1234567, 0.8123, 0.8011)
    text = format_summary(df, "quick")
    assert "81.23%" in text and "1,234,567" in text and "quick profile" in text
    (runs / "vgg" / "metrics.json").write_text("{not json")
    with pytest.raises(DataError, match="vgg"):
        summarize_runs(runs)


@pytest.mark.slow  # runs Jupyter kernels
def test_data_folder_travels_as_env_and_no_download_reaches_the_kernels(tiny_study, tmp_path, monkeypatch):
    import charclf.study.runner as study
    from charclf.apps.cli import main

    _notebook(tiny_study / "02_env.ipynb", [
        'import os; print("DATA_DIR=" + repr(DATA_DIR), "ENV=" + os.environ["CHARCLF_DATA_DIR"], '
        '"NO_DOWNLOAD=" + os.environ.get("CHARCLF_NO_DOWNLOAD", "-"))'])
    monkeypatch.setenv("CHARCLF_OUTPUTS_DIR", str(tmp_path / "outputs"))
    monkeypatch.delenv("CHARCLF_NO_DOWNLOAD", raising=False)
    fetched = []
    monkeypatch.setattr(study, "fetch_study_data", lambda *a, **k: fetched.append(a))
    out = tmp_path / "executed"
    args = ["study", "--only", "02", "--notebooks-dir", str(tiny_study), "--out-dir", str(out),
            "--data-dir", str(tmp_path / "data")]
    assert main(args + ["--no-download"]) == 0 and not fetched
    nb = nbformat.read(out / "02_env.ipynb", as_version=4)
    # the committed notebook records no machine path: DATA_DIR stays None, the folder reaches it as $CHARCLF_DATA_DIR
    assert _stdout(nb.cells[2]).split() == ["DATA_DIR=None", f"ENV={tmp_path / 'data'}", "NO_DOWNLOAD=1"]
    assert nb.metadata["charclf_study"]["parameters"]["DATA_DIR"] is None
    assert main(args) == 0 and len(fetched) == 1  # by default the study fetches missing data first
    assert _stdout(nbformat.read(out / "02_env.ipynb", as_version=4).cells[2]).split()[-1] == "NO_DOWNLOAD=-"


@pytest.mark.slow  # runs Jupyter kernels
def test_rendering_keeps_a_notebook_that_needs_training_and_goes_on(tiny_study, tmp_path, monkeypatch, capsys):
    """Without --train, a notebook whose cell raises NotTrainedYet is reported and left as committed; the next
    notebooks still render; with --train the same error is a failure, never hidden."""
    from charclf.apps.cli import main

    _notebook(tiny_study / "00_first.ipynb", [
        'import os; print("render=" + os.environ["CHARCLF_RENDER_ONLY"])',
        ("from charclf.errors import NotTrainedYet\n"
         "if os.environ['CHARCLF_RENDER_ONLY'] == '1': raise NotTrainedYet('run 04_training/vgg-seed0 is not there')")])
    before = (tiny_study / "00_first.ipynb").read_text()
    monkeypatch.setenv("CHARCLF_OUTPUTS_DIR", str(tmp_path / "outputs"))
    results = run_study("full", data_dir=tmp_path, notebooks=tiny_study, echo=lambda *a, **k: None, train=False)
    first, second = results
    assert "vgg-seed0" in first.not_rendered and second.not_rendered is None
    assert (tiny_study / "00_first.ipynb").read_text() == before  # the committed copy is unchanged
    assert _stdout(nbformat.read(tiny_study / "01_second.ipynb", as_version=4).cells[3]).strip() == "42 holdout"
    executed = run_study("full", data_dir=tmp_path, notebooks=tiny_study, echo=lambda *a, **k: None, train=True,
                         only="00", out_dir=tmp_path / "trained")
    assert "render=0" in _stdout(nbformat.read(tmp_path / "trained" / "00_first.ipynb", as_version=4).cells[2])
    assert executed[0].not_rendered is None
    with pytest.raises(ConfigError, match="--train --retrain"):
        run_study("full", data_dir=tmp_path, notebooks=tiny_study, echo=lambda *a, **k: None, train=False,
                  retrain=True)
    # The command renders by default and times renders apart from trainings.
    assert main(["study", "--notebooks-dir", str(tiny_study), "--data-dir", str(tmp_path), "--no-download"]) == 0
    timings = json.loads((tmp_path / "outputs" / "study" / "full-render-timings.json").read_text())
    assert list(timings["notebook_seconds"]) == ["01_second"] and timings["profile"] == "full"
    assert main(["study", "--retrain", "--notebooks-dir", str(tiny_study), "--no-download"]) != 0
    assert "--train --retrain" in capsys.readouterr().err


@pytest.mark.slow  # runs Jupyter kernels
def test_not_trained_yet_from_a_notebook_is_its_own_error(tiny_study, tmp_path):
    from charclf.study.runner import execute_notebook

    _notebook(tiny_study / "02_pending.ipynb", [
        "from charclf.errors import NotTrainedYet\nraise NotTrainedYet('the search has 3 of its 28 trials')"])
    with pytest.raises(NotebookNeedsTraining, match="3 of its 28 trials") as info:
        execute_notebook(tiny_study / "02_pending.ipynb", {"PROFILE": "full", "DATA_DIR": None,
                                                           "PROTOCOL": "holdout", "SEED": 0, "RETRAIN": False})
    assert isinstance(info.value, StudyError) and "02_pending.ipynb" in str(info.value)


@pytest.mark.slow  # runs Jupyter kernels
def test_figures_join_the_folder_only_with_a_written_notebook(tiny_study, tmp_path, monkeypatch):
    """A notebook that stops (here: not rendered for want of training) leaves none of its partial run's figures
    beside the committed ones; a rendered notebook's figures land in the figures folder."""
    draw = ("import matplotlib.pyplot as plt\nfrom charclf.study import setup\n"
            "ctx = setup(0, profile=PROFILE, quiet=True)\nctx.save(plt.figure(), '{name}')")
    _notebook(tiny_study / "00_first.ipynb", [
        draw.format(name="00_partial"),
        "from charclf.errors import NotTrainedYet\nraise NotTrainedYet('run 04_training/vgg-seed0 is not there')"])
    _notebook(tiny_study / "01_second.ipynb", [draw.format(name="01_drawn")])
    monkeypatch.setenv("CHARCLF_OUTPUTS_DIR", str(tmp_path / "outputs"))
    monkeypatch.delenv("CHARCLF_RETRAIN", raising=False)  # set by notebooks/conftest.py when both suites run
    first, second = run_study("full", data_dir=tmp_path, notebooks=tiny_study, echo=lambda *a, **k: None,
                              train=False)
    assert first.not_rendered and second.not_rendered is None
    assert sorted(p.name for p in (tmp_path / "outputs" / "figures").iterdir()) == ["01_drawn_full.png"]


def test_another_protocols_or_seeds_render_goes_beside_the_committed_notebooks(tmp_path, monkeypatch):
    from charclf.study.runner import rendered_notebooks_dir

    monkeypatch.setenv("CHARCLF_OUTPUTS_DIR", str(tmp_path))
    assert rendered_notebooks_dir(None, "full", "holdout", 0) is None  # in place: the committed render
    assert rendered_notebooks_dir(None, "full", "official", 0) == tmp_path / "study" / "notebooks-full-official-seed0"
    assert rendered_notebooks_dir(None, "quick", "holdout", 2) == tmp_path / "study" / "notebooks-quick-seed2"
    assert rendered_notebooks_dir("x", "full", "official", 1) == Path("x")  # asked for: as asked
