"""The run folder's lock file, for every layer that writes into a run folder: training holds it
(``charclf.train.run_folder.run_lock``), and ``charclf evaluate`` refuses a folder a live training holds
(``refuse_if_locked``), since that training would rewrite metrics.json under the evaluation."""
from __future__ import annotations

import os
from pathlib import Path

LOCK_NAME = ".charclf-train.lock"  # held (flock) by the one process training into the folder; holds its PID
# held (flock, briefly) while `charclf evaluate` merges its result into metrics.json; one a killed evaluation left
# is part of the run folder like the lock above (--overwrite removes it, --resume ignores it)
METRICS_LOCK = ".metrics.json.lock"
HELD: set[Path] = set()  # folders this process has locked (the lock is re-entrant within a process)


def refuse_if_locked(out: Path) -> None:
    """Raise ``RunLocked`` (naming the PID) when a live process holds ``out``'s lock; a lock file left by a
    dead process, or none, passes."""
    from charclf.errors import RunLocked
    from charclf.fileio import lock_holder

    if Path(out).resolve() in HELD or secondary_rank():
        return
    holder = lock_holder(Path(out) / LOCK_NAME)
    if holder is not None:
        raise RunLocked(locked_message(out, holder))


def secondary_rank() -> bool:
    """A torchrun rank other than 0: it writes nothing into the run folder, and rank 0 holds its lock."""
    return int(os.environ.get("RANK", "0") or 0) != 0


def locked_message(out: Path, holder: str) -> str:
    return (f"{out}: another training (PID {holder or 'unknown'}) is writing into this folder. Fix: wait for it "
            "to finish (or stop it), or train into another --out folder")
