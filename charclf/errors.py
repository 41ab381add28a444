"""Exceptions of the package.

Every error a user can cause (bad file, bad config, bad name) is a ``CharclfError`` whose message says
*which* thing is wrong, *what* is wrong with it, and *what to do* — so a notebook or the CLI can show it as is.
"""
from __future__ import annotations

import re
from pathlib import Path

# user:password@ in any URL (storage URLs, mirrors), and secrets passed in a query string (?token=..., presigned
# S3 URLs' X-Amz-Signature=...). What a credential looks like is decided here once, for every message and log.
_URL_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*:/{1,3})[^\s/@'\"]+@")
_SECRET_QUERY = re.compile(r"(?P<key>[?&;](?:[A-Za-z0-9_.-]*(?:token|key|secret|password|passwd|pwd|signature|sig|"
                           r"credential|auth)[A-Za-z0-9_.-]*)=)[^&\s'\"#]+", re.IGNORECASE)


# Characters that would act on a terminal instead of showing (ANSI escapes, backspace, bell, carriage return,
# C1 controls) or reorder what it shows (bidi overrides). A file name or a file's content quoted in a message may
# hold any of them; they are shown escaped (\x1b), so a message always reads as what it is. A newline or tab is
# escaped too: a message is one line, and a file named "a\nb.png: A 0.99" must not forge a second one.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# What charclf's own output may not carry either (``TerminalSafe``): the same, less the newline, tab and carriage
# return its own formatting and progress lines use.
_TERMINAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match) -> str:
    return repr(match.group())[1:-1]


def printable(text: str) -> str:
    """``text`` (a message, or a file name about to be printed) on one line, with every control character
    escaped; see ``_CONTROL``."""
    return _CONTROL.sub(_escape, str(text))


class TerminalSafe:
    """A text stream (``sys.stdout``) that escapes ANSI escapes, C1 controls and bidi overrides in whatever is
    written to it, so no file name or file content a command prints (a run folder, a verified path, a manifest's
    entry) acts on the terminal. The CLI wraps stdout in it for every command."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(_TERMINAL.sub(_escape, text))

    def __getattr__(self, name):
        return getattr(self._stream, name)


def mask_credentials(text: str) -> str:
    """``text`` with every URL's user/password and every secret-looking query value replaced by ``***``:
    ``postgresql://bob:hunter2@db/x`` -> ``postgresql://***@db/x``. Every error message of the package goes
    through it (``CharclfError.__str__``), and so does whatever charclf prints or logs about a URL."""
    text = _URL_USERINFO.sub(lambda m: f"{m.group('scheme')}***@", str(text))
    return _SECRET_QUERY.sub(lambda m: f"{m.group('key')}***", text)


class CharclfError(Exception):
    """Base class of every error the package raises on purpose. Its text never shows a credential: a storage
    or mirror URL quoted in a message (or in a library's error it repeats) is masked (:func:`mask_credentials`);
    and never drives the terminal: control characters from file names or contents are escaped (:func:`printable`)."""

    def __str__(self) -> str:
        return printable(mask_credentials(super().__str__()))


class DataError(CharclfError):
    """A data file or directory is missing, damaged, or not what it claims to be.

    ``DataError(path, problem, fix)`` renders as ``"<path>: <problem>. Fix: <fix>"``.
    """

    def __init__(self, path: str | Path | None, problem: str, fix: str = ""):
        self.path = None if path is None else Path(path)
        self.problem = problem
        self.fix = fix
        where = f"{self.path}: " if self.path is not None else ""
        msg = f"{where}{problem}"
        if fix:
            msg += f". Fix: {fix}"
        super().__init__(msg)


class ChecksumError(DataError):
    """A file's sha256/md5 differs from the official value."""


class DownloadError(DataError):
    """A download failed (no network, all mirrors failed, or a bad archive)."""


class ConfigError(CharclfError, ValueError):
    """A configuration (JSON file, dataclass field, or a name such as an optimizer) is invalid."""


class UnknownNameError(ConfigError, KeyError):
    """A registry lookup (model, optimizer, scheduler, recipe ...) failed; the message lists close matches."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return printable(mask_credentials(str(self.args[0]))) if self.args else ""


class TrainingError(CharclfError, RuntimeError):
    """Training cannot go on (NaN loss, incompatible resume folder, existing output folder ...)."""


class DivergenceError(TrainingError):
    """The training loss became NaN or infinite: the setting diverged (a hyperparameter search records such a
    trial as pruned and goes on; anywhere else it stops the training)."""


class RunFinished(TrainingError):
    """``--resume`` was asked of a run that finished: there is nothing to do, and nothing in the folder changes
    (``charclf train`` says so and exits 0)."""


class RunLocked(TrainingError):
    """Another live process is training into the same run folder."""


class WriteError(CharclfError):
    """A file could not be written: the disk is full, read-only, or not ours to write. Names the file."""


class NotTrainedYet(TrainingError):
    """A result was asked for that has not been trained, and this execution only renders finished results
    (``charclf study`` without ``--train``, or ``$CHARCLF_RENDER_ONLY=1``): training was not started."""


class ImageError(CharclfError):
    """An input image for prediction cannot be used (not an image, empty, blank, truncated, absurd size)."""


class BlankImageError(ImageError):
    """An image with nothing to read in it (blank, fully transparent, only page lines and marks): in a live demo
    an empty or cleared canvas, not a mistake to report."""


def unknown_name(kind: str, name: str, known: list[str] | tuple[str, ...]) -> UnknownNameError:
    """Build an ``UnknownNameError`` that lists close matches of ``name`` among ``known``."""
    import difflib

    close = difflib.get_close_matches(name, list(known), n=5, cutoff=0.4)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    # "Fix: use one of" rather than "Known <kind>s": plurals such as "losss" read badly.
    return UnknownNameError(f"unknown {kind} {name!r}.{hint} Fix: use one of: {', '.join(sorted(known))}")


def file_error(path: str | Path, err: OSError, fix: str = "") -> DataError:
    """A ``DataError`` that says *why* ``path`` could not be opened: a permission problem, a folder where a file
    was expected, or a missing file are each named as such — never reported as a damaged file."""
    if isinstance(err, PermissionError):
        return DataError(path, "cannot be read (permission denied)",
                         "give your user read access to the file (e.g. chmod u+r), or copy it somewhere readable")
    if isinstance(err, IsADirectoryError):
        return DataError(path, "is a folder, not a file", fix or "point to the file itself")
    if isinstance(err, FileNotFoundError):
        return DataError(path, "does not exist", fix or "check the path")
    return DataError(path, f"cannot be read ({err.strerror or err})", fix or "check the file and its disk")
