"""One CLI: everything a user runs is a ``charclf`` subcommand, listed by ``charclf --help``, each with a help."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from charclf.apps.cli import COMMANDS, HELP, MAINS, TOOLS, main

ROOT = Path(__file__).resolve().parents[1]
SUBCOMMANDS = sorted(HELP)


def test_every_subcommand_is_wired_and_listed_by_help(capsys):
    assert set(HELP) == set(COMMANDS) | set(MAINS) | set(TOOLS)
    assert main(["--help"]) == 0
    listed = capsys.readouterr().out
    for name in SUBCOMMANDS:
        assert f"    {name} " in listed or f"    {name}\n" in listed, f"charclf --help does not list {name}"


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_each_subcommand_help_exits_0(name, capsys):
    assert main([name, "--help"]) == 0
    assert "usage:" in capsys.readouterr().out


def test_a_main_names_itself_by_its_subcommand(capsys):
    assert main(["ensemble", "--help"]) == 0
    assert capsys.readouterr().out.startswith("usage: charclf ensemble")


def _has_main_block(path: Path) -> bool:
    return any(isinstance(node, ast.If) and "__name__" in ast.unparse(node.test)
               for node in ast.parse(path.read_text()).body)


def test_every_script_and_main_is_a_subcommand():
    """A module or tool someone runs (``python -m charclf.x`` / ``python tools/x.py``) is reachable as a subcommand:
    its module is one of COMMANDS/MAINS (or a ``charclf plan``-style wrapper of one), its tool one of TOOLS."""
    wired = set(COMMANDS.values()) | set(MAINS.values()) | {"charclf.apps.cli", "charclf.study.plan"}
    mains = {".".join(p.relative_to(ROOT).with_suffix("").parts)
             for p in (ROOT / "charclf").rglob("*.py") if p.name != "__main__.py" and _has_main_block(p)}
    assert mains <= wired, f"not a charclf subcommand: {sorted(mains - wired)}"
    tools = {p.stem for p in (ROOT / "tools").glob("*.py") if _has_main_block(p)}
    assert tools <= set(TOOLS.values()), f"tools not a charclf subcommand: {sorted(tools - set(TOOLS.values()))}"


def test_an_unknown_subcommand_is_one_line(capsys):
    assert main(["nope"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_slow_tests_are_marked_by_their_own_decorator_only():
    """One way to mark a test slow: ``@pytest.mark.slow`` on it, where a reader of the test sees it. A conftest
    that adds markers by test id (the former ``SLOW_TESTS`` list) is a second way, and drifts from the tests."""
    for conftest in sorted(ROOT.glob("*/conftest.py")):
        tree = ast.parse(conftest.read_text())
        hooks = [node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)
                 and node.name == "pytest_collection_modifyitems" and "slow" in ast.unparse(node)]
        assert not hooks, f"{conftest.relative_to(ROOT)} marks tests slow by id: put @pytest.mark.slow on each test"


@pytest.mark.parametrize("argv, option", [
    (["evaluate-images", "--sample", "--out", ""], "--out"),  # would have meant "the default place"
    (["predict", "a.png", "--model", " "], "--model"),
    (["ensemble", "run", "--out="], "--out"),  # a command that parses its own arguments
    (["train", "--model", "lenet", "--out", ""], "--out"),  # type=Path would have made it "."
])
def test_an_empty_option_value_is_refused_not_read_as_the_default(argv, option, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"{option} is empty (an unset shell variable?)" in err and err.count("\n") == 1
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("argv, first, second", [
    (["predict", "a.png", "--model", "m1", "--model", "m2"], "--model", "--model"),
    (["train", "--out", "x", "--out=y"], "--out", "--out"),
    (["evaluate", "run", "--tta", "--no-tta"], "--tta", "--no-tta"),
    (["ensemble", "--out", "a", "--out", "b"], "--out", "--out"),  # a command that parses its own arguments
    (["predict", "a.png", "--model", "m1", "--mod", "m2"], "--model", "--model"),  # an abbreviation counts
    (["predict", "a.png", "--top", "3", "--to=5"], "--top", "--top"),
    (["evaluate", "run", "--tt", "--no-tta"], "--tta", "--no-tta"),
])
def test_an_option_given_twice_is_refused_instead_of_keeping_the_last(argv, first, second, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"{first} and {second} both set" in err and "pass it once" in err and err.count("\n") == 1


def test_options_that_collect_may_repeat():
    from charclf.argtypes import Parser

    parser = Parser(prog="x")
    parser.add_argument("--disable", action="append", default=[])
    parser.add_argument("--n", type=int)
    assert parser.parse_args(["--disable", "a", "--disable", "b", "--n", "1"]).disable == ["a", "b"]
    with pytest.raises(SystemExit):
        parser.parse_args(["--n", "1", "--n", "2"])
    assert parser.parse_args(["--n", "1", "--n", "1"]).n == 1  # the same value again changes nothing
    assert parser.parse_args(["--n", "2"]).n == 2  # each parse starts afresh
