"""Always the render of HEAD: every committed notebook, re-rendered from the committed runs (no training), shows
the text outputs it was committed with — but for the environment lines ``rendercheck.ENVIRONMENT_LINES`` names."""
from __future__ import annotations

import os

import nbformat
import pytest

from charclf.study import rendercheck


def _nb(*outputs):
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x", outputs=list(outputs))])


def _stream(text):
    return nbformat.v4.new_output("stream", name="stdout", text=text)


def test_environment_lines_may_differ_and_nothing_else():
    here = _nb(_stream("      python: 3.11.7\n     git_sha: abc\ntraining precision: bf16\ntest acc 86.46%\n"))
    there = _nb(_stream("      python: 3.12.1\n     git_sha: def\ntraining precision: fp32\ntest acc 86.46%\n"))
    assert rendercheck.first_difference("04.ipynb", here, there) is None
    again = _nb(_stream("test accuracy evaluated again here: 86.6340%; recorded by fit: 86.6340% (net 0 images apart)\n"))
    moved = _nb(_stream("test accuracy evaluated again here: 86.6254%; recorded by fit: 86.6340% (net 1 images apart)\n"))
    assert rendercheck.first_difference("07.ipynb", again, moved) is None  # the rendering machine's arithmetic
    changed = _nb(_stream("      python: 3.12.1\n     git_sha: def\ntraining precision: fp32\ntest acc 86.47%\n"))
    assert rendercheck.first_difference("04.ipynb", here, changed) == (
        "04.ipynb cell 0: committed 'test acc 86.46%' / rendered 'test acc 86.47%'")


def test_a_missing_output_and_the_temporary_outputs_folder():
    table = nbformat.v4.new_output("execute_result", data={"text/plain": "a  1"}, execution_count=1)
    assert "only the committed notebook has 'a  1'" in rendercheck.first_difference("x", _nb(table), _nb())
    moved = _nb(_stream("loaded /tmp/w/outputs/runs/full/04_training/vgg-seed0\n"))
    committed = _nb(_stream("loaded outputs/runs/full/04_training/vgg-seed0\n"))
    assert rendercheck.first_difference("x", committed, moved, "/tmp/w/outputs") is None


def test_linked_copy_never_writes_the_committed_files(tmp_path):
    (tmp_path / "src" / "runs").mkdir(parents=True)
    (tmp_path / "src" / "runs" / "summary.json").write_text("committed")
    copy = rendercheck.linked_copy(tmp_path / "src", tmp_path / "copy")
    from charclf.fileio import write_json

    write_json(copy / "runs" / "summary.json", {"rewritten": True})  # what notebook 07 does while rendering
    assert (tmp_path / "src" / "runs" / "summary.json").read_text() == "committed"


def test_kernels_start_without_a_transport_warning(capfd):
    from nbclient import NotebookClient

    from charclf.study.runner import kernel_config

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(6 * 7)")])
    NotebookClient(nb, kernel_name="python3", config=kernel_config()).execute()
    assert nb.cells[0].outputs[0]["text"].strip() == "42"
    assert "without encryption" not in capfd.readouterr().err


@pytest.mark.slow
@pytest.mark.realdata
def test_every_committed_notebook_is_the_render_of_head(real_data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("CHARCLF_DATA_DIR", str(real_data_dir))
    problems = rendercheck.check_renders(workdir=tmp_path)
    assert not problems, "stale renders (fix: charclf study --no-download, then commit the notebooks):\n" + \
        "\n".join(problems)


def test_rendering_never_retrains_nor_writes_the_committed_outputs(tmp_path, monkeypatch):
    # notebooks/conftest.py sets CHARCLF_RETRAIN=1 for the whole pytest session (nbmake's quick runs)
    monkeypatch.setenv("CHARCLF_RETRAIN", "1")
    monkeypatch.setenv("CHARCLF_OUTPUTS_DIR", "/somewhere/else")
    with rendercheck.render_environment(tmp_path / "outputs", tmp_path / "figures"):
        assert "CHARCLF_RETRAIN" not in os.environ
        assert os.environ["CHARCLF_OUTPUTS_DIR"] == str(tmp_path / "outputs")
        assert os.environ["CHARCLF_FIGURES_DIR"] == str(tmp_path / "figures")
    assert os.environ["CHARCLF_RETRAIN"] == "1" and os.environ["CHARCLF_OUTPUTS_DIR"] == "/somewhere/else"


def test_each_committed_notebook_is_compared_with_its_own_render_whatever_the_execution_order(tmp_path,
                                                                                              monkeypatch):
    """Review: with notebook 00 executed last, check_renders zipped the numbered notebooks with the results in
    execution order, so each was compared with another notebook's render."""
    from charclf.study import runner
    from charclf.study.runner import NotebookResult

    repo = tmp_path / "repo"
    (repo / "notebooks").mkdir(parents=True)
    (repo / "outputs").mkdir()
    for stem, text in ((runner.FINDINGS_NOTEBOOK, "findings"), ("01_data", "data")):
        nbformat.write(_nb(_stream(text)), repo / "notebooks" / f"{stem}.ipynb")

    def render(profile, *, only, notebooks, out_dir, **kw):
        out_dir.mkdir(parents=True)
        ordered = runner.execution_order(runner.find_notebooks(notebooks, only))
        for path in ordered:  # a perfect render of each
            nbformat.write(nbformat.read(path, as_version=4), out_dir / path.name)
        return [NotebookResult(name=p.stem, path=out_dir / p.name, seconds=0.0) for p in ordered]

    monkeypatch.setattr(runner, "run_study", render)
    assert rendercheck.check_renders(repo, workdir=tmp_path / "work", echo=lambda *a, **k: None) == []
