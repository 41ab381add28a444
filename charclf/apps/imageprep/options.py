"""Which preprocessing steps run: a frozen set of switches, so an ablation can turn one step off at a time.

``PREPROCESS_VERSION`` names the conversion; a scorer stores it (with ``PrepOptions.describe()``) next to its
accuracies, so numbers measured under different preprocessing are never compared unknowingly. Bump it whenever
a step's behaviour changes.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Iterable

from charclf.errors import ConfigError

PREPROCESS_VERSION = "2.2"  # 1.x: border background, specks, thickening only; 2.x: the steps below
# (Unchanged by refusing scattered ink and stretching dim 16-bit scans: every image accepted before and still
# accepted gives the same 28x28; both cases were refused or unreadable before.)


@dataclass(frozen=True)
class PrepOptions:
    """One switch per step of ``preprocess_image`` (all on by default). The steps, in the order they run:

    - ``flatten_illumination``: divide out (or subtract) a smooth background estimated by a large greyscale
      closing, but only when that background varies across the page (a shadow, a lamp at one side);
    - ``remove_lines``: erase ruled and grid lines (thin ink runs across the whole page), keeping the strokes
      that cross them;
    - ``normalize_intensity``: map the typical stroke to full ink, so faint (photographed) strokes are not grey;
    - ``remove_specks``: drop components far smaller than the character (dust, JPEG blips);
    - ``drop_border_fragments``: drop pieces of neighbouring writing that touch the image border;
    - ``thicken``: grow strokes much thinner than EMNIST's towards its typical width;
    - ``thin``: slim strokes much thicker than EMNIST's (a marker) down to its typical width.
    """

    flatten_illumination: bool = True
    remove_lines: bool = True
    normalize_intensity: bool = True
    remove_specks: bool = True
    drop_border_fragments: bool = True
    thicken: bool = True
    thin: bool = True

    def without(self, *steps: str) -> "PrepOptions":
        """A copy with the named steps turned off (unknown names are refused, listing the valid ones)."""
        return replace(self, **{check_step(s): False for s in steps})

    def describe(self) -> str:
        """``"2.0"`` with every step on, else e.g. ``"2.0 -remove_lines"``: what a scorer records."""
        off = [f"-{name}" for name in STEPS if not getattr(self, name)]
        return " ".join([PREPROCESS_VERSION, *off])


STEPS = tuple(f.name for f in fields(PrepOptions))


def check_step(name: str) -> str:
    if name not in STEPS:
        raise ConfigError(f"preprocessing step {name!r} does not exist. Fix: use one of {', '.join(STEPS)}")
    return name


def resolve_options(options: PrepOptions | None = None, disable: Iterable[str] = (),
                    normalize_strokes: bool = True) -> PrepOptions:
    """``options`` (default: all steps) less the ``disable``d steps; ``normalize_strokes=False`` (the older
    switch) turns off both stroke-width steps."""
    opts = options if options is not None else PrepOptions()
    if isinstance(disable, str):
        disable = [disable]
    opts = opts.without(*disable)
    if not normalize_strokes:
        opts = opts.without("thicken", "thin")
    return opts
