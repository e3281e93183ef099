"""dlf.glue writes what myst-nb's glue writes, so the book's build reads it back."""

from __future__ import annotations

import IPython.display
import pytest
from myst_nb.core.variables import format_plain_text
from myst_nb.ext import glue as myst_glue

from dlf.glue import glue


def recorded(glue_function, monkeypatch, *args, **kwargs) -> list:
    calls = []

    def display(*objs, **options):
        calls.append((objs, options))

    monkeypatch.setattr(IPython.display, "display", display)
    monkeypatch.setattr(myst_glue, "ipy_display", display)
    glue_function(*args, **kwargs)
    return calls


@pytest.mark.parametrize("value", [0.123456, 42, "text", [1, 2]])
@pytest.mark.parametrize("display", [True, False])
def test_same_output_as_myst_nb(monkeypatch, value, display):
    monkeypatch.setenv("DLF_BOOK_BUILD", "1")
    ours = recorded(glue, monkeypatch, "key", value, display=display)
    theirs = recorded(myst_glue.glue, monkeypatch, "key", value, display=display)
    assert ours == theirs and len(ours) == 1


def test_a_glued_number_formats_in_the_prose(monkeypatch):
    monkeypatch.setenv("DLF_BOOK_BUILD", "1")
    [(objs, options)] = recorded(glue, monkeypatch, "rmse", 0.91234, display=False)
    data = objs[0]
    assert options["metadata"]["scrapbook"] == {
        "name": "rmse",
        "mime_prefix": myst_glue.GLUE_PREFIX,
    }
    assert format_plain_text(data[myst_glue.GLUE_PREFIX + "text/plain"], ".2f") == "0.91"


def test_outside_a_book_build_only_displayed_values_show(monkeypatch):
    monkeypatch.delenv("DLF_BOOK_BUILD", raising=False)
    assert recorded(glue, monkeypatch, "hidden", 1.5, display=False) == []
    [(objs, options)] = recorded(glue, monkeypatch, "shown", 1.5, display=True)
    assert objs == (1.5,) and not options
