"""The ``charclf`` command: everything a user runs is one of its subcommands (``charclf --help`` lists them).

A subcommand is either a module exposing ``add_parser(subparsers)`` + ``run(args)`` (COMMANDS), a module whose
``main(argv)`` parses its own arguments (MAINS), or a repo-only script of ``tools/`` run by path (TOOLS: they
maintain the repository's README, model_hub and committed runs, so a pip install has none). This file only wires
them."""
from __future__ import annotations

import argparse
import importlib
import sys

from charclf.argtypes import Parser
from charclf.errors import CharclfError, ConfigError, TerminalSafe

# subcommand -> module exposing add_parser(subparsers) and run(args) -> int
COMMANDS = {
    "data": "charclf.data.cli",
    "train": "charclf.train.cli",
    "evaluate": "charclf.eval.evaluate",
    "evaluate-images": "charclf.apps.realworld_cli",
    "predict": "charclf.apps.predict",
    "demo": "charclf.apps.demo",
    "bench": "charclf.apps.bench",
    "race": "charclf.apps.race",
    "tune": "charclf.experiments.tune",
    "study": "charclf.study.runner",
    "plan": "charclf.study.plan_cli",
}
# subcommand -> module whose main(argv) parses the rest of the command line itself
MAINS = {
    "ensemble": "charclf.experiments.ensemble",
    "label-audit": "charclf.experiments.label_audit",
    "report": "charclf.study.report",
    "nbstrip": "charclf.study.nbstrip",
    "render-check": "charclf.study.rendercheck",
}
# subcommand -> repo-only script tools/<name>.py with main(argv)
TOOLS = {
    "publish": "publish_models",
    "race-search": "search_race_recipe",
    "migrate-runs": "migrate_runs",
    "readme": "write_readme",
    "realworld-manifest": "build_realworld_manifest",
    "predict-latency": "bench_predict_latency",
    "class-counts": "add_class_counts",
    "time-widths": "time_budget_widths",
    "rescore-emnist-mnist": "rescore_emnist_mnist_disjoint",
    "realworld-dev-methods": "realworld_dev_methods",
}

HELP = {
    "data": "verify or download the EMNIST/MNIST files",
    "train": "train a model on a split and protocol",
    "evaluate": "evaluate a trained run folder and write metrics.json",
    "evaluate-images": "score a model on the real-world handwriting set (photos, tablet, scans)",
    "predict": "predict characters in image files",
    "demo": "draw-a-character web demo (Gradio, localhost)",
    "bench": "training-throughput benchmark: usual pipeline vs charclf",
    "race": "time to accuracy: usual pipeline vs charclf to a val accuracy",
    "tune": "random/TPE hyperparameter search (Optuna)",
    "study": "execute the study notebooks (quick or full profile)",
    "plan": "train or time the study's planned runs (background runner)",
    "ensemble": "ensemble finished runs on val/test (and write a distillation teacher)",
    "label-audit": "cross-validated audit of EMNIST's labels (cleanlab)",
    "report": "print the study's results tables (markdown) from the committed runs",
    "nbstrip": "strip run noise from executed notebooks, keeping their outputs",
    "render-check": "re-render every notebook from the committed runs into a temporary folder and compare",
    "publish": "publish the best full-profile models into model_hub/ (repo only)",
    "race-search": "choose the race recipe on val (repo only)",
    "migrate-runs": "rewrite and check committed run records in the RunRecord schema (repo only)",
    "readme": "rewrite (or --check) the generated blocks of README.md, RESULTS.md and model_hub/README.md from the "
              "committed artifacts (repo only)",
    "realworld-manifest": "rebuild the real-world set's manifest from git snapshots of its sources (repo only)",
    "predict-latency": "time predict on one image and the demo's answer to a stroke (repo only)",
    "class-counts": "add the training class counts predict divides out to older model folders (repo only)",
    "time-widths": "time minivision_s's width/depth variants for the fixed-time-budget arms (repo only)",
    "rescore-emnist-mnist": "score notebook 08's runs on EMNIST-MNIST less their source's training images (repo only)",
    "realworld-dev-methods": "score the study's kept models, TTA and seed averages on the real set's dev part "
                             "(repo only)",
}
# Old spellings still accepted: (subcommand, flag) -> the subcommand that replaced it.
DEPRECATED_FLAGS = {("bench", "--time-to-accuracy"): "race"}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = Parser(prog="charclf", description="EMNIST handwritten character recognition study.")
    from charclf import __version__

    parser.add_argument("--version", action="version", version=f"charclf {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in HELP:
        # Only import the module the user asked for: importing gradio or optuna for `charclf data` would be slow.
        if name != only or name not in COMMANDS:
            sub.add_parser(name, help=HELP[name])
            continue
        importlib.import_module(COMMANDS[name]).add_parser(sub)
    return parser


def _tool(name: str):
    """The repo-only script ``tools/<name>.py``, imported by path (it is not part of the package)."""
    import importlib.util

    from charclf.provenance import REPO_ROOT

    path = REPO_ROOT / "tools" / f"{name}.py"
    if not path.is_file():
        raise ConfigError(f"{path} not found: this command maintains the repository and runs only in a clone of "
                          "it. Fix: run it from a git clone of charclf")
    spec = importlib.util.spec_from_file_location(f"charclf_tools_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run_main(command: str, argv: list[str]) -> int:
    # argparse names the program after sys.argv[0]: the usage line then reads `charclf ensemble ...`.
    program, sys.argv[0] = sys.argv[0], f"charclf {command}"
    try:
        if command in TOOLS:
            return int(_tool(TOOLS[command]).main(argv) or 0)
        return int(importlib.import_module(MAINS[command]).main(argv) or 0)
    finally:
        sys.argv[0] = program


def _deprecated(argv: list[str]) -> list[str]:
    """``argv`` with an old spelling replaced by the new subcommand, and one line saying so."""
    for (command, flag), new in DEPRECATED_FLAGS.items():
        if argv[:1] == [command] and flag in argv:
            print(f"note: `charclf {command} {flag}` is now `charclf {new}`; the old form will go", file=sys.stderr)
            return [new, *(a for a in argv[1:] if a != flag)]
    return argv


def main(argv: list[str] | None = None) -> int:
    # Whatever a command prints (file names, a manifest's fields) never drives the terminal; errors are escaped
    # in full by CharclfError itself.
    stdout, sys.stdout = sys.stdout, TerminalSafe(sys.stdout)
    try:
        return _main(argv)
    finally:
        sys.stdout = stdout


def _main(argv: list[str] | None) -> int:
    argv = _deprecated(sys.argv[1:] if argv is None else list(argv))
    command = argv[0] if argv else None
    try:
        if command in MAINS or command in TOOLS:
            return _run_main(command, argv[1:])
        parser = build_parser(command if command in COMMANDS else None)
        try:
            args = parser.parse_args(argv)
        except SystemExit as stop:  # --help, --version, or a bad argument (already reported on one line)
            return stop.code if isinstance(stop.code, int) else 0
        if not getattr(args, "func", None):
            parser.print_help()
            return 0 if not argv else 2
        return int(args.func(args) or 0)
    except SystemExit as stop:  # a main's argparse (--help: 0, a bad argument: 2) or a message it exits with
        if isinstance(stop.code, str):
            print(f"charclf {command}: error: {stop.code}", file=sys.stderr)
            return 2
        return stop.code or 0
    except CharclfError as err:
        # One line: the message names the file, the problem and the fix; a multi-line detail (e.g. from a
        # library) must not push the "Fix:" part out of view.
        print(f"charclf {command}: error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
