"""The one atomic write (autograder/drivers/files.py): whole or not at all, no leftovers."""

from __future__ import annotations

import json
import os

import pytest

from autograder.drivers import files


def test_a_write_replaces_the_file_whole_and_leaves_nothing_else(tmp_path):
    target = tmp_path / "result.json"
    target.write_text("old")
    files.write_json(target, {"a": [1, 2]}, indent=1, durable=True, mode=0o640)
    assert json.loads(target.read_text()) == {"a": [1, 2]}
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]
    assert target.stat().st_mode & 0o777 == 0o640
    files.write_atomic(target, b"\x00bytes")
    assert target.read_bytes() == b"\x00bytes"


def test_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "notes.json"
    target.write_text("old")

    def refuse(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError):
        files.write_json(target, {"new": True})
    assert target.read_text() == "old"
