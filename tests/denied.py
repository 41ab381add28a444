"""A folder that refuses writes, for tests of commands that must refuse an unwritable output before any work."""
from __future__ import annotations


def deny_writes_in(monkeypatch, folder):
    """Creating a file in ``folder`` fails with EACCES, as in a folder without write permission (tests may run as
    root, whom chmod does not stop)."""
    import errno
    import tempfile

    real = tempfile.mkstemp

    def mkstemp(*args, dir=None, **kwargs):
        if dir is not None and str(dir) == str(folder):
            raise PermissionError(errno.EACCES, "Permission denied", str(folder))
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
