"""Reading back what a part left in its folder: nothing the student's process wrote is trusted.

The child of a job writes, in each part's folder, ``out.safetensors`` (tensors),
``meta.json`` (notes per case) and ``output.txt`` (what the code printed). Each is read here
without following links, bounded in size, parsed only as tensors or plain JSON, and reduced
to the fields and types the grader reads: a :class:`PartOutcome`.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load

MAX_OUTPUT_BYTES = 512 << 20
MAX_META_BYTES = 1 << 20
MAX_TEXT = 8000  # of what a part printed, the last MAX_TEXT bytes are read back
PRINTED_LINES, PRINTED_CHARS = 20, 1500  # and the end of those shown in feedback


@dataclass
class PartOutcome:
    """What came back from one part: how its process ended, its tensors, its notes (per case:
    an error, a forbidden operation, outputs on the wrong device) and what it printed."""

    status: str  # "ok", "timeout", "signal:SIGKILL", "exit:N" or "sandbox-failed: ..."
    seconds: float
    cpu_seconds: float = 0.0  # the CPU time the part used
    outputs: dict[str, torch.Tensor] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)
    printed: str = ""  # the end of what it printed (stdout, stderr): see printed_tail
    problem: str | None = None  # unreadable output and the like

    @property
    def finished(self) -> bool:
        return self.status == "ok" and bool(self.meta.get("finished"))


def collect(part_dir: Path, outcome: PartOutcome) -> None:
    """Read back tensors and notes, refusing anything oversized or malformed (the files
    were written by the student's process: no link is followed, nothing is trusted)."""
    text = read_bounded(part_dir / "output.txt", MAX_TEXT, tail=True)
    if text is not None:
        outcome.printed = printed_tail(text)
    raw = read_bounded(part_dir / "meta.json", MAX_META_BYTES)
    if raw is not None:
        try:
            outcome.meta = clean_meta(json.loads(raw.decode(errors="replace")))
        except (ValueError, RecursionError, MemoryError):
            outcome.problem = "the submission's notes (meta.json) were not valid, plain JSON"
    elif (part_dir / "meta.json").exists():
        outcome.problem = "the submission's notes (meta.json) could not be read back safely"
    out = part_dir / "out.safetensors"
    if os.path.lexists(out):
        data = read_bounded(out, MAX_OUTPUT_BYTES)
        if data is None:
            outcome.problem = "the submission's outputs were too large or not a plain file"
            return
        try:
            outcome.outputs = load(data)
        except Exception as err:  # noqa: BLE001 - safetensors raises several kinds
            outcome.problem = f"the outputs could not be read back safely ({str(err)[:200]})"


MAX_NOTES = 200  # cases, failures: more than any part has


def _text(value, limit: int = 1500) -> str | None:
    return value[:limit] if isinstance(value, str) else None


def clean_meta(value) -> dict:
    """The child's notes reduced to what the grader reads, with the types it expects
    (anything else is dropped): ``finished``, ``load_failures``, ``cases`` (each case's
    ``error``, ``forbidden`` and ``wrong_device``: output key -> the device it came back on)."""
    if not isinstance(value, dict):
        return {}
    cases = value.get("cases") if isinstance(value.get("cases"), list) else []
    failures = value.get("load_failures")
    failures = failures if isinstance(failures, list) else []
    return {
        "finished": value.get("finished") is True,
        "load_failures": [t for t in map(_text, failures[:MAX_NOTES]) if t is not None],
        "cases": [_clean_case(c) if isinstance(c, dict) else None for c in cases[:MAX_NOTES]],
    }


def _clean_case(case: dict) -> dict:
    cleaned = {"error": _text(case.get("error")), "forbidden": _text(case.get("forbidden"), 300)}
    where = case.get("wrong_device")
    if isinstance(where, dict):
        pairs = [(_text(k, 100), _text(v, 100)) for k, v in list(where.items())[:MAX_NOTES]]
        cleaned["wrong_device"] = {k: v for k, v in pairs if k is not None and v is not None}
    return cleaned


def read_bounded(path: Path, limit: int, tail: bool = False) -> bytes | None:
    """The bytes of ``path`` if it is a plain file (not a link, FIFO or device) of at most
    ``limit`` bytes (or, with ``tail``, its last ``limit`` bytes); else None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or (info.st_size > limit and not tail):
            return None
        with os.fdopen(os.dup(fd), "rb") as fh:
            fh.seek(max(0, info.st_size - limit))
            return fh.read(limit)
    except OSError:
        return None
    finally:
        os.close(fd)


def printed_tail(data: bytes) -> str:
    """The end of what a part printed, as feedback shows it: its last ``PRINTED_LINES``
    lines and ``PRINTED_CHARS`` characters, marked "..." where cut."""
    text = data.decode(errors="replace").replace("\r\n", "\n").rstrip()
    lines = text.splitlines()
    kept = "\n".join(lines[-PRINTED_LINES:])[-PRINTED_CHARS:]
    return kept if kept == text else "...\n" + kept
