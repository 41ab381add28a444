"""The ``charclf`` command. Each subcommand lives in its own module (``add_parser`` + ``run``); this file only wires them."""
from __future__ import annotations

import argparse
import importlib
import sys

from charclf.errors import CharclfError

# subcommand -> module exposing add_parser(subparsers) and run(args) -> int
COMMANDS = {
    "data": "charclf.data.cli",
    "train": "charclf.train.cli",
    "evaluate": "charclf.eval.evaluate",
    "predict": "charclf.apps.predict",
    "demo": "charclf.apps.demo",
    "bench": "charclf.apps.bench",
    "tune": "charclf.experiments.tune",
    "study": "charclf.study.runner",
    "plan": "charclf.study.plan_cli",
}

HELP = {
    "data": "verify or download the EMNIST/MNIST files",
    "train": "train a model on a split and protocol",
    "evaluate": "evaluate a trained run folder and write metrics.json",
    "predict": "predict characters in image files",
    "demo": "draw-a-character web demo (Gradio, localhost)",
    "bench": "training-throughput benchmark: usual pipeline vs charclf",
    "tune": "random/TPE hyperparameter search (Optuna)",
    "study": "execute the study notebooks (quick or full profile)",
    "plan": "train or time the study's planned runs (background runner)",
}


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error: what is wrong and where to look, not a usage block and a traceback."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}. Fix: see `{self.prog} --help`\n")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = Parser(prog="charclf", description="EMNIST handwritten character recognition study.")
    from charclf import __version__

    parser.add_argument("--version", action="version", version=f"charclf {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in COMMANDS.items():
        # Only import the module the user asked for: importing gradio or optuna for `charclf data` would be slow.
        if name != only:
            sub.add_parser(name, help=HELP[name])
            continue
        importlib.import_module(module).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    only = argv[0] if argv and argv[0] in COMMANDS else None
    parser = build_parser(only)
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, --version, or a bad argument (already reported on one line)
        return stop.code if isinstance(stop.code, int) else 0
    if not getattr(args, "func", None):
        parser.print_help()
        return 0 if not argv else 2
    try:
        return int(args.func(args) or 0)
    except CharclfError as err:
        # One line: the message names the file, the problem and the fix; a multi-line detail (e.g. from a
        # library) must not push the "Fix:" part out of view.
        print(f"charclf {args.command}: error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
