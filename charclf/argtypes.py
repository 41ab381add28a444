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


def comma_list(item):
    """An argparse ``type``: comma-separated values, each parsed by ``item`` (e.g. ``SEED``): ``0,1,2``."""
    def parse(text: str) -> list:
        parts = [p.strip() for p in text.split(",")]
        if not all(parts):
            raise argparse.ArgumentTypeError(f"{text!r} has an empty item (need a comma-separated list)")
        return [item(p) for p in parts]

    parse.__name__ = f"a comma-separated list of {getattr(item, '__name__', 'values')}"
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


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error (what is wrong and where to look, not a usage block and a traceback), no
    empty option value (``--out ""`` would otherwise read as "not given" and write to the default place), and
    no setting given twice: ``--model a --model b``, ``--model a --mod b`` (an abbreviation) or ``--tta --no-tta``
    (one setting) is refused, where plain argparse would silently keep the last. The check runs where argparse has
    resolved the option, so every spelling counts; options that collect (``append``, ``count``) may repeat."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        store = _once(argparse._StoreAction)
        for name, action in ((None, store), ("store", store), ("store_const", _once(argparse._StoreConstAction)),
                             ("store_true", _once(argparse._StoreTrueAction)),
                             ("store_false", _once(argparse._StoreFalseAction))):
            self.register("action", name, action)  # None: add_argument without action= stores
        self._set_by: dict[str, str] = {}

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}. Fix: see `{self.prog} --help`\n")

    def _parse_known_args(self, *args, **kwargs):
        # Per parse (a parser may parse several command lines: tests, notebooks), in the method every way of
        # parsing goes through (parse_args, parse_known_args and, on newer Pythons, the intermixed ones).
        self._set_by = {}
        return super()._parse_known_args(*args, **kwargs)

    def _get_value(self, action, arg_string):
        # Before the type converts it (Path("") is "."): `--out "$OUT"` with OUT unset is not "the default".
        if action.option_strings and isinstance(arg_string, str) and not arg_string.strip():
            self.error(f"{'/'.join(action.option_strings)} is empty (an unset shell variable?): give it a value, or "
                       "leave the option out for its default")
        return super()._get_value(action, arg_string)

    def claim(self, dest: str, option_string: str | None, value=None) -> None:
        """Called by every one-value action as argparse applies it: a second option setting ``dest`` to another
        value is an error (the same option with the same value again changes nothing)."""
        if option_string is None:  # a positional argument: argparse fills it once
            return
        if dest in self._set_by and self._set_by[dest] != (option_string, value):
            self.error(f"{self._set_by[dest][0]} and {option_string} both set {dest!r}, and only one value would "
                       "be kept (pass it once)")
        self._set_by[dest] = (option_string, value)


def _once(base: type) -> type:
    """``base`` (an argparse action that keeps one value) that first claims its ``dest`` from a :class:`Parser`."""
    class Once(base):
        def __call__(self, parser, namespace, values, option_string=None):
            if isinstance(parser, Parser):
                parser.claim(self.dest, option_string, values if values is not None else self.const)
            super().__call__(parser, namespace, values, option_string)

    Once.__name__ = Once.__qualname__ = f"Once{base.__name__}"
    return Once
