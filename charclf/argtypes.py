"""argparse pieces shared by every command's parser: the parser class (one-line errors, no option given twice) and
numbers range-checked before any work starts."""
from __future__ import annotations

import argparse
import math
import os


def number(kind: type = int, *, low: float | None = None, high: float | None = None, low_open: bool = False):
    """An argparse ``type``: a ``kind`` (int or float) within ``[low, high]`` (``(low, high]`` with
    ``low_open``). NaN and infinities are refused, so no flag can smuggle a nonsense value past it."""
    noun = "a whole number" if kind is int else "a number"
    bounds = [f"> {low:g}" if low_open else f">= {low:g}"] if low is not None else []
    bounds += [f"<= {high:g}"] if high is not None else []
    wanted = f"{noun} {' and '.join(bounds)}".strip()

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {noun} (need {wanted})") from None
        if (kind is float and not math.isfinite(value)) or (low is not None and (value <= low if low_open else
                                                                                   value < low)) \
                or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{text} is out of range (need {wanted})")
        return value

    parse.__name__ = wanted  # what argparse would print for the type
    return parse


COUNT = number(int, low=1)  # epochs, batch size, samples, trials, top-k ...
NON_NEGATIVE = number(int, low=0)  # warm-up steps
MAX_SEED = 2**63 - 1  # random, numpy's generators and torch.manual_seed all take it; 2**64 overflows torch
SEED = number(int, low=0, high=MAX_SEED)
SECONDS = number(int, low=1)
# Beyond these a value is a typo, and it fails late and badly: torch.set_num_threads(100000) segfaults, 100000
# DataLoader workers fork 100000 processes, a batch of 1e11 images is a MemoryError traceback.
MAX_THREADS = 4 * (os.cpu_count() or 2)
THREADS = number(int, low=1, high=MAX_THREADS)
MAX_BATCH = 65536
BATCH_SIZE = number(int, low=1, high=MAX_BATCH)
PORT = number(int, low=1, high=65535)
POSITIVE = number(float, low=0, low_open=True)
# A learning rate is finite *and* sane: 1e308 passes "positive and finite" but overflows the first optimizer step
# (Adam's update, weight decay's lr * wd) into inf/NaN. No optimizer or schedule here trains at lr > 10.
MAX_LR = 10.0
LEARNING_RATE = number(float, low=0, low_open=True, high=MAX_LR)


# Actions that keep one value: a second occurrence would silently replace the first (argparse's default).
_ONE_VALUE = (argparse._StoreAction, argparse._StoreConstAction)


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error (what is wrong and where to look, not a usage block and a traceback), and
    no option given twice: ``--model a --model b`` (or ``--tta --no-tta``, one setting) is refused, where plain
    argparse would silently keep the last. Options that collect (``append``, ``count``) may repeat."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}. Fix: see `{self.prog} --help`\n")

    def parse_known_args(self, args=None, namespace=None):
        import sys

        self._refuse_repeated(list(sys.argv[1:] if args is None else args))
        return super().parse_known_args(args, namespace)

    def _refuse_repeated(self, args: list[str]) -> None:
        seen: dict[str, str] = {}  # dest -> the option that set it
        for token in args:
            if token == "--":
                return
            if not token.startswith("-"):
                if token in self._subparser_choices():  # the rest is the subcommand's, checked by its parser
                    return
                continue
            action = self._option_string_actions.get(token.split("=", 1)[0] if token.startswith("--") else token)
            if action is None or not isinstance(action, _ONE_VALUE) and type(action).__module__ == "argparse":
                continue  # unknown (argparse says so), or one that collects values (append, count, help)
            if action.dest in seen:
                self.error(f"{seen[action.dest]} and {token.split('=', 1)[0]} both set {action.dest!r}, and only one "
                           "value is kept (pass it once)")
            seen[action.dest] = token.split("=", 1)[0]

    def _subparser_choices(self) -> dict:
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                return action.choices
        return {}
