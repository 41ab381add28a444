"""Always the render of HEAD: re-render the committed notebooks from the committed runs (no training) into a
temporary folder and compare their text outputs with the committed ``.ipynb`` files.

    python -m charclf.study.rendercheck [--only 03,04]      # exit 1 naming the first differing line

Nothing committed is written: the notebooks run against a copy of ``outputs/`` made of links to the committed
files (a notebook that writes a summary replaces the link, not the file), their figures go to the temporary
folder, and the executed copies are written there too. Only the environment lines may differ between two
machines — the versions, commit, CPU and precision the setup cell prints, and the kernel's own paths — and
:data:`ENVIRONMENT_LINES` names each of them.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

# Lines that describe the rendering machine, not the study: ``(pattern, replacement)``, applied per line.
ENVIRONMENT_LINES = (
    # setup(): what the rendering machine runs (versions, commit, device, its native precision, platform)
    (re.compile(r"^(\s*)(python|torch|numpy|charclf|git_sha|torchvision|device|training precision|platform|"
                r"colab): .*$"), r"\1\2: <environment>"),
    # the data folder as the setup cell names it ($CHARCLF_DATA_DIR, or a path relative to the repository)
    (re.compile(r"^(\s*)data_dir: .*$"), r"\1data_dir: <environment>"),
    # notebook 07 scores the chosen weights again on the rendering machine and prints how far that lands from the
    # record (its assert bounds the gap); another CPU's float32 kernels may round a near-tie the other way
    (re.compile(r"^(test accuracy evaluated again here|ECE): .*$"), r"\1: <rendering machine>"),
    # temporary folders a notebook creates (notebook 10 writes its example images to one)
    (re.compile(r"/tmp/[\w.-]+"), "<tmp>"),
)


def normalise(line: str, outputs: str | None = None) -> str:
    """``line`` with its environment parts replaced; ``outputs``: the temporary outputs folder, read as the
    repository's ``outputs``."""
    if outputs:
        line = line.replace(outputs, "outputs")
    for pattern, replacement in ENVIRONMENT_LINES:
        line = pattern.sub(replacement, line)
    return line.rstrip()


def text_lines(nb, outputs: str | None = None) -> list[tuple[int, str]]:
    """``(cell index, line)`` for every line of every text output of ``nb``'s code cells (streams, errors and
    the text/plain and text/markdown of displays and results; images are not text)."""
    lines = []
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if output.get("output_type") == "stream":
                texts = [output.get("text", "")]
            elif output.get("output_type") == "error":
                texts = output.get("traceback", [])
            else:
                data = output.get("data", {})
                texts = [data.get(kind, "") for kind in ("text/markdown", "text/plain")]
            for text in texts:
                text = "".join(text) if isinstance(text, list) else text
                lines += [(index, normalise(line, outputs)) for line in text.splitlines()]
    return lines


def first_difference(name: str, committed, rendered, outputs: str | None = None) -> str | None:
    """``"<name> cell N: committed '...' / rendered '...'"`` for the first differing text line, or None."""
    old, new = text_lines(committed, outputs), text_lines(rendered, outputs)
    for (cell_a, a), (cell_b, b) in zip(old, new):
        if a != b or cell_a != cell_b:
            return f"{name} cell {cell_b}: committed {a[:160]!r} / rendered {b[:160]!r}"
    if len(old) != len(new):
        extra = (old if len(old) > len(new) else new)[min(len(old), len(new))]
        which = "committed" if len(old) > len(new) else "rendered"
        return f"{name} cell {extra[0]}: only the {which} notebook has {extra[1][:160]!r} (and what follows)"
    return None


def linked_copy(source: Path, dest: Path) -> Path:
    """``dest``: ``source``'s folders, each file a symbolic link to the committed one (writes replace links)."""
    for folder, _, files in os.walk(source):
        target = dest / Path(folder).relative_to(source)
        target.mkdir(parents=True, exist_ok=True)
        for name in files:
            (target / name).symlink_to(Path(folder) / name)
    return dest


@contextmanager
def render_environment(outputs: Path, figures: Path):
    """The environment the kernels inherit while rendering: the linked outputs and a temporary figures folder
    (nothing committed is written), and no ``$CHARCLF_RETRAIN`` — under ``pytest tests notebooks``,
    notebooks/conftest.py sets it for nbmake's quick runs, and it would make these full-profile kernels train."""
    from charclf.paths import FIGURES_ENV, OUTPUTS_ENV
    from charclf.study.runs import RETRAIN_ENV

    changes = {OUTPUTS_ENV: str(outputs), FIGURES_ENV: str(figures), RETRAIN_ENV: None}
    saved = {key: os.environ.get(key) for key in changes}
    try:
        for key, value in changes.items():
            _set(key, value)
        yield
    finally:
        for key, value in saved.items():
            _set(key, value)


def _set(key: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(key, None)
    else:
        os.environ[key] = value


def check_renders(repo: Path | None = None, *, only=None, workdir: Path | None = None, echo=print) -> list[str]:
    """Render ``repo``'s notebooks (default: this repository) from its committed runs and return one line per
    notebook whose text outputs differ from the committed copy, or which could not be rendered."""
    import nbformat

    from charclf.provenance import REPO_ROOT
    from charclf.study.runner import find_notebooks, run_study

    repo = Path(repo) if repo else REPO_ROOT
    workdir = Path(workdir or tempfile.mkdtemp(prefix="charclf-render-head-"))
    outputs = linked_copy(repo / "outputs", workdir / "outputs")
    with render_environment(outputs, workdir / "figures"):
        results = run_study("full", only=only, notebooks=repo / "notebooks", out_dir=workdir / "rendered",
                            download=False, train=False, echo=echo)
    problems = []
    rendered = {r.name: r for r in results}  # by name: they come back in execution order (00 last), not numbered
    for path in find_notebooks(repo / "notebooks", only):
        result = rendered[path.stem]
        if result.not_rendered:
            problems.append(f"{path.name} could not be rendered from the committed runs: {result.not_rendered}")
            continue
        difference = first_difference(path.name, nbformat.read(path, as_version=4),
                                      nbformat.read(result.path, as_version=4), str(outputs))
        if difference:
            problems.append(difference)
    return problems


def main(argv=None) -> int:
    from charclf.argtypes import Parser  # one-line errors, no option given twice

    parser = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help="comma-separated notebook numbers, e.g. 03,04")
    args = parser.parse_args(argv)
    problems = check_renders(only=args.only)
    for line in problems:
        print(line)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
