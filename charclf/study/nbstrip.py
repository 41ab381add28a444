"""Strip the noise from executed notebooks while keeping their outputs (like ``nbstripout --keep-output``).

Committed notebooks are read on GitHub as a report, so their outputs (tables, figures, printed numbers) stay.
What goes is what changes on every run without meaning anything: execution counts, per-cell timing metadata,
random cell ids, widget state (a progress bar's widget cannot render outside a live kernel), and the
carriage-return frames of text progress bars.

``charclf nbstrip NOTEBOOK...`` strips files in place.
"""
from __future__ import annotations

import re
from pathlib import Path

from charclf.fileio import atomic_write_text

# Cell metadata keys written by Jupyter/nbclient/papermill that only record how a run went.
NOISY_CELL_METADATA = ("execution", "ExecuteTime", "collapsed", "scrolled", "papermill", "jupyter")
NOISY_NOTEBOOK_METADATA = ("widgets", "papermill", "toc", "varInspector", "vscode")
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
_ANSI_CURSOR = re.compile(r"\x1b\[[0-9;]*[ABCDEFGHJKSTfsu]")  # cursor moves of tqdm; colours are kept


def collapse_carriage_returns(text: str) -> str:
    """Keep what a terminal would finally show: for each line, the text after its last ``\\r``."""
    text = _ANSI_CURSOR.sub("", text)
    lines = []
    for line in text.split("\n"):
        if "\r" in line:
            frames = [f for f in line.split("\r") if f]
            line = frames[-1] if frames else ""
        lines.append(line)
    return "\n".join(lines)


def strip_output(output: dict) -> dict | None:
    """A cleaned output, or ``None`` when nothing of it can be shown outside a live kernel."""
    if output.get("output_type") == "execute_result":
        output["execution_count"] = None  # required key for this output type; its value is noise
    output.pop("transient", None)
    data = output.get("data")
    if data is not None and WIDGET_MIME in data:
        return None  # a widget (tqdm.auto's bar); its text/plain is just "HBox(children=...)"
    if output.get("output_type") == "stream":
        text = output.get("text", "")
        if isinstance(text, list):
            text = "".join(text)
        text = collapse_carriage_returns(text)
        if not text.strip():
            return None
        output["text"] = text
    metadata = output.get("metadata")
    if isinstance(metadata, dict):
        for key in ("execution", "ExecuteTime"):
            metadata.pop(key, None)
    return output


def strip_notebook(nb) -> object:
    """Strip ``nb`` (an ``nbformat.NotebookNode`` or a plain dict) in place and return it."""
    for key in NOISY_NOTEBOOK_METADATA:
        nb.get("metadata", {}).pop(key, None)
    lang = nb.get("metadata", {}).get("language_info")
    if isinstance(lang, dict):
        lang.pop("version", None)  # the patch version of Python differs between machines
    nb["nbformat"], nb["nbformat_minor"] = 4, max(int(nb.get("nbformat_minor", 5)), 5)
    for index, cell in enumerate(nb.get("cells", [])):
        # Ids from the cell's position: stable across runs and re-syncs, unique within the notebook.
        cell["id"] = f"cell-{index:03d}"
        meta = cell.setdefault("metadata", {})
        for key in NOISY_CELL_METADATA:
            meta.pop(key, None)
        if cell.get("cell_type") != "code":
            cell.pop("outputs", None)
            cell.pop("execution_count", None)
            continue
        cell["execution_count"] = None
        cleaned = [strip_output(o) for o in cell.get("outputs", [])]
        cell["outputs"] = _merge_streams([o for o in cleaned if o is not None])
    return nb


def _merge_streams(outputs: list) -> list:
    """Join consecutive pieces of the same stream (a print loop writes many small chunks)."""
    merged: list = []
    for out in outputs:
        prev = merged[-1] if merged else None
        if (prev is not None and out.get("output_type") == "stream" and prev.get("output_type") == "stream"
                and prev.get("name") == out.get("name")):
            prev["text"] = collapse_carriage_returns(prev["text"] + out["text"])
            continue
        merged.append(out)
    return merged


NOT_A_NOTEBOOK_FIX = ("pass the path of a Jupyter notebook (.ipynb); a damaged committed one comes back with "
                      "`git checkout -- FILE`")


def read_notebook(path: str | Path):
    """The notebook in ``path`` as nbformat v4. Whatever is not one (no file, a folder, non-UTF-8 bytes, bad JSON,
    JSON of another shape, a notebook that breaks its schema) is one ``DataError`` naming the file."""
    import warnings

    import nbformat

    from charclf.errors import DataError
    from charclf.provenance import read_json

    raw = read_json(path, NOT_A_NOTEBOOK_FIX)
    version = raw.get("nbformat") if isinstance(raw, dict) else None
    if not isinstance(version, int) or version not in nbformat.versions:
        found = "no 'nbformat' version in it" if version is None else f"its 'nbformat' version is {version!r}"
        raise DataError(path, f"is not a Jupyter notebook ({found})", NOT_A_NOTEBOOK_FIX)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a missing or repeated cell id: strip_notebook renumbers them all
            _, minor = nbformat.reader.get_version(raw)
            nb = nbformat.convert(nbformat.versions[version].to_notebook_json(raw, minor=minor), 4)
            nbformat.validate(nb)
    except Exception as err:  # nbformat's converters and validator fail on a malformed notebook in many types
        raise DataError(path, f"is not a valid Jupyter notebook ({_reason(err)})", NOT_A_NOTEBOOK_FIX) from err
    return nb


def _reason(err: Exception) -> str:
    """nbformat's complaint on one line (a NotebookNode's AttributeError names only the key it lacks)."""
    text = getattr(err, "message", None) or str(err) or type(err).__name__
    if isinstance(err, AttributeError) and text.isidentifier():
        text = f"the key {text!r} is missing"
    return " ".join(text.split())[:200]


def notebook_text(nb) -> str:
    """``nb`` as the .ipynb text charclf writes (a final newline, as ``nbformat.write`` adds)."""
    import nbformat

    return nbformat.writes(nb) + "\n"


def strip_file(path: str | Path) -> bool:
    """Strip one .ipynb in place (a symlink: its target, see ``atomic_path``'s ``follow_links``); returns True when it changed."""
    from charclf.provenance import read_text

    before = read_text(path, NOT_A_NOTEBOOK_FIX)
    after = notebook_text(strip_notebook(read_notebook(path)))
    if after != before:
        atomic_write_text(path, after, follow_links=True)  # a kill mid-write must not truncate a committed notebook
        return True
    return False


def main(argv: list[str] | None = None) -> int:
    """``charclf nbstrip NOTEBOOK...`` (also ``python -m charclf.study.nbstrip``): strip files in place."""
    from charclf.argtypes import Parser  # one-line errors, no option given twice

    parser = Parser(prog="charclf nbstrip", description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="+", metavar="NOTEBOOK.ipynb")
    for path in parser.parse_args(argv).notebooks:
        if strip_file(path):
            print(f"stripped {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
