"""Which run a planned run is, as data: ``RunId(group, entry, variant, seed)`` instead of a name string whose
parts readers split apart again (the ``-seed<N>`` suffix, a ``-kd`` or ``-nearest`` variant, a ``../`` prefix for
a run that another notebook's folder holds, ``group[:2]`` for the notebook).

A run's folder under ``outputs/runs/<profile>/`` is still ``<group>/<entry>[-<variant>][-seed<N>]``: the name is
written from the parts, never parsed back into them.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RunId:
    """``group``: the notebook's runs folder (``04_training``); ``entry``: the model or ablation arm (``vgg``,
    ``recipe-crop-rotation``); ``variant``: how this run differs from the entry's plain one (``kd``: distilled,
    ``nearest``, ``charclf``: another recipe); ``seed``: the seed its name carries (None: the name carries none,
    as the one-seed ablation arms'); ``shared_with``: the group whose folder holds the run when it is the same run
    as another notebook's (notebook 09's base arm is notebook 02's run, trained once)."""

    group: str
    entry: str
    variant: str = ""
    seed: int | None = None
    shared_with: str | None = None

    def __post_init__(self):
        for part in (self.group, self.entry, self.variant, self.shared_with or ""):
            if "/" in part:
                raise ValueError(f"RunId part {part!r} holds a '/': give the group, entry and variant separately")

    @property
    def stem(self) -> str:
        """The entry and its variant: ``minivision_v3-nearest``, ``charnet_s-kd``, ``vgg``."""
        return f"{self.entry}-{self.variant}" if self.variant else self.entry

    @property
    def folder_group(self) -> str:
        """The group whose folder holds the run (``shared_with``, else its own)."""
        return self.shared_with or self.group

    @property
    def series(self) -> str:
        """``<folder group>/<stem>``: the run whatever its seed (its seeds' folders are ``<series>-seed<N>``)."""
        return f"{self.folder_group}/{self.stem}"

    @property
    def name(self) -> str:
        """The run's folder under the profile's runs folder: ``<series>[-seed<N>]``."""
        return self.series if self.seed is None else f"{self.series}-seed{self.seed}"

    @property
    def notebook(self) -> str:
        """The number of the notebook the run belongs to (``04`` for ``04_training``)."""
        return notebook_of(self.group)


def notebook_of(group: str) -> str:
    """``04`` for the runs folder ``04_training``: notebooks and their folders share the number before ``_``."""
    return group.split("_", 1)[0]
