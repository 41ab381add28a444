"""``charclf nbstrip`` on what is not a notebook: one line naming the file, nothing changed; on a link: its target."""
from __future__ import annotations

import nbformat
import pytest

from charclf.apps.cli import main

NOT_NOTEBOOKS = {
    "missing": None,
    "bad JSON": b"{bad",
    "empty": b"",
    "not UTF-8": b"\xff\xfe{}",
    "a JSON list": b"[]",
    "an empty object": b"{}",
    "a version as text": b'{"nbformat": "4"}',
    "no cells": b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {}}',
    "a cell with no metadata": b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type": "code"}]}',
    "a cell that is a number": b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [3]}',
    "a folder": "folder",
}


def _state(folder):
    return {p: (p.stat().st_mtime_ns, p.read_bytes() if p.is_file() else None) for p in sorted(folder.rglob("*"))}


@pytest.mark.parametrize("case", sorted(NOT_NOTEBOOKS))
def test_nbstrip_on_what_is_not_a_notebook_is_one_line_naming_it_and_changes_nothing(tmp_path, capsys, case):
    path, content = tmp_path / "x.ipynb", NOT_NOTEBOOKS[case]
    if content == "folder":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    before = _state(tmp_path)
    capsys.readouterr()
    assert main(["nbstrip", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert f"error: {path}: " in err and "Fix: " in err, err
    assert _state(tmp_path) == before


def test_nbstrip_on_a_symlink_strips_its_target_and_keeps_the_link(tmp_path, capsys):
    real, link = tmp_path / "real.ipynb", tmp_path / "link.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1", execution_count=7)]), real)
    link.symlink_to(real.name)
    assert main(["nbstrip", str(link)]) == 0
    assert link.is_symlink() and link.readlink().name == real.name
    assert nbformat.read(real, as_version=4).cells[0].execution_count is None
