"""The committed notebooks: paired with their .py, parameterised, stripped of noise, and free of library code."""
from __future__ import annotations

import ast
import copy
import re
from pathlib import Path

import nbformat
import pytest

from charclf.study.nbstrip import collapse_carriage_returns, strip_notebook

jupytext = pytest.importorskip("jupytext")

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
IPYNBS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
PYS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))
MAX_TOP_LEVEL_LINES = 6  # a top-level for/while/if/with/try longer than this is logic, not a call
MAX_FUNCTION_LINES = 4  # a notebook may hold a tiny lambda-like helper; anything longer belongs in charclf
COLAB_BADGE = "https://colab.research.google.com/github/"


def _ids(paths):
    return [p.name for p in paths]


def _sources(nb) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source.strip()) for c in nb.cells]


def test_there_are_notebooks_and_each_is_paired():
    assert IPYNBS, f"no notebooks in {NOTEBOOKS}"
    assert {p.stem for p in IPYNBS} == {p.stem for p in PYS}, "every notebook needs its py:percent twin and back"


@pytest.mark.parametrize("ipynb", IPYNBS, ids=_ids(IPYNBS))
def test_committed_notebook_agrees_with_its_py(ipynb):
    committed = nbformat.read(ipynb, as_version=4)
    paired = jupytext.read(ipynb.with_suffix(".py"))
    a, b = _sources(committed), _sources(paired)
    for i, (left, right) in enumerate(zip(a, b)):
        assert left == right, (f"{ipynb.name} cell {i} differs from {ipynb.with_suffix('.py').name}. "
                               f"Fix: edit the .py, then `jupytext --sync {ipynb.with_suffix('.py')}`")
    assert len(a) == len(b), f"{ipynb.name} has {len(a)} cells, its .py {len(b)}. Fix: jupytext --sync"


@pytest.mark.parametrize("py", PYS, ids=_ids(PYS))
def test_notebook_structure(py):
    nb = jupytext.read(py)
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, f"{py.name}: needs exactly one cell tagged 'parameters'"
    for name in ("PROFILE", "DATA_DIR", "PROTOCOL", "SEED", "RETRAIN"):
        assert re.search(rf"^{name}\s*=", params[0].source, re.M), f"{py.name}: the parameters cell lacks {name}"
    assert re.search(r'^PROFILE\s*=\s*"quick"', params[0].source, re.M), \
        f"{py.name}: the committed default must be PROFILE = \"quick\" (nbmake runs notebooks as they are)"
    assert COLAB_BADGE in nb.cells[0].source and py.stem in nb.cells[0].source, \
        f"{py.name}: the first cell must be the 'Open in Colab' badge for this notebook"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "google.colab" in code[0].source, f"{py.name}: the first code cell must be the Colab-only install cell"
    assert code[1] is params[0], f"{py.name}: the parameters cell must follow the Colab cell"
    assert "setup(" in code[2].source, f"{py.name}: the cell after the parameters must call setup(SEED, ...)"


@pytest.mark.parametrize("py", PYS, ids=_ids(PYS))
def test_notebook_holds_calls_not_library_code(py):
    nb = jupytext.read(py)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        source = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
        tree = ast.parse(source, filename=f"{py.name} cell {i}")
        for node in ast.walk(tree):
            assert not isinstance(node, ast.ClassDef), f"{py.name} cell {i}: class {node.name} belongs in charclf"
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                assert length <= MAX_FUNCTION_LINES, (f"{py.name} cell {i}: function {node.name} has {length} "
                                                      "lines — library code belongs in the charclf package")
        problems = top_level_logic(tree)
        assert not problems, f"{py.name} cell {i}: " + "; ".join(problems) + (
            " — logic belongs in a function of the charclf module that owns the notebook's concern")


COMPOUND = (ast.For, ast.AsyncFor, ast.While, ast.If, ast.With, ast.AsyncWith, ast.Try, ast.TryStar)
LOOPS = (ast.For, ast.AsyncFor, ast.While)


def top_level_logic(tree: ast.Module) -> list[str]:
    """What a notebook cell runs at top level that is a program, not a call: a compound statement (for, while,
    if, with, try) over MAX_TOP_LEVEL_LINES lines, or a loop inside a top-level loop, each as
    "line N: ..." (N counts in the cell)."""
    problems = []
    for node in tree.body:
        if not isinstance(node, COMPOUND):
            continue
        kind = type(node).__name__.lower().replace("async", "")
        length = node.end_lineno - node.lineno + 1
        if length > MAX_TOP_LEVEL_LINES:
            problems.append(f"line {node.lineno}: a top-level {kind} of {length} lines (at most {MAX_TOP_LEVEL_LINES})")
        if isinstance(node, LOOPS):
            inner = [n for child in node.body + node.orelse for n in ast.walk(child) if isinstance(n, LOOPS)]
            if inner:
                problems.append(f"line {inner[0].lineno}: a loop nested in the top-level {kind} of line {node.lineno}")
    return problems


def test_top_level_logic_names_long_compound_statements_and_nested_loops():
    cell = "x = 1\nfor a in b:\n    for c in a:\n        print(c)\nif x:\n" + "    y = 2\n" * 6 + "print(x)\n"
    assert top_level_logic(ast.parse(cell)) == ["line 3: a loop nested in the top-level for of line 2",
                                                "line 5: a top-level if of 7 lines (at most 6)"]
    assert top_level_logic(ast.parse("for a in b:\n    print([c for c in a])\nwith x:\n    y()\n")) == []


@pytest.mark.parametrize("ipynb", IPYNBS, ids=_ids(IPYNBS))
def test_committed_notebook_is_stripped(ipynb):
    nb = nbformat.read(ipynb, as_version=4)
    assert strip_notebook(copy.deepcopy(nb)) == nb, f"{ipynb.name} carries run noise. Fix: charclf nbstrip NOTEBOOK.ipynb"


def test_strip_keeps_outputs_and_drops_noise():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("print(1)")
    cell.execution_count = 7
    cell.metadata["execution"] = {"iopub.execute_input": "2024-01-01T00:00:00"}
    cell.metadata["tags"] = ["parameters"]
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stderr", text="  0%|    | 0/9\r 50%|##  | 4/9\r100%|####| 9/9\n"),
        nbformat.v4.new_output("stream", name="stderr", text="done\n"),
        nbformat.v4.new_output("display_data", data={"application/vnd.jupyter.widget-view+json": {"model_id": "x"},
                                                     "text/plain": "HBox(children=(...))"}),
        nbformat.v4.new_output("execute_result", data={"text/plain": "42"}, execution_count=7),
    ]
    nb.cells = [nbformat.v4.new_markdown_cell("# t"), cell]
    nb.metadata["widgets"] = {"state": {}}
    strip_notebook(nb)
    out = nb.cells[1]
    assert out.execution_count is None and "execution" not in out.metadata and out.metadata["tags"] == ["parameters"]
    assert [o.output_type for o in out.outputs] == ["stream", "execute_result"]
    assert out.outputs[0].text == "100%|####| 9/9\ndone\n"  # progress frames collapsed, streams merged
    assert out.outputs[1].data["text/plain"] == "42" and out.outputs[1].execution_count is None
    assert "widgets" not in nb.metadata
    assert [c.id for c in nb.cells] == ["cell-000", "cell-001"]
    nbformat.validate(nb)
    assert collapse_carriage_returns("a\rb\nc") == "b\nc"
