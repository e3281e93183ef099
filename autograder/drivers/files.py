"""Writing a file so that no reader ever sees half of it: the one atomic write.

Everything the grader writes for others to read (a part's notes in the sandbox, a grading
result, a course's records, an autograded notebook, a platform's results file) goes through
:func:`write_atomic`: the bytes go to a hidden temporary file next to the target, which then
replaces it in one ``os.replace``. It lives in :mod:`autograder.drivers` because the sandbox's
runtime may import nothing else of the grader.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def write_atomic(
    path: str | os.PathLike, data: str | bytes, *, mode: int | None = None, durable: bool = False
) -> None:
    """Replace ``path`` with ``data`` (text is UTF-8) in one step. ``mode``: the file's
    permissions (default: the umask's); ``durable``: flush it to disk first, so a rerun after
    ``kill -9`` or a crash of the machine finds the old file or the new one, whole."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data.encode() if isinstance(data, str) else data)
        if durable:
            fh.flush()
            os.fsync(fh.fileno())
    if mode is not None:
        os.chmod(tmp, mode)
    os.replace(tmp, path)


def write_json(path: str | os.PathLike, data, *, indent: int | None = None, **options) -> None:
    """:func:`write_atomic` of ``data`` as JSON (``options``: those of :func:`write_atomic`)."""
    write_atomic(path, json.dumps(data, indent=indent), **options)
