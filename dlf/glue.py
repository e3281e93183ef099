"""``glue``: hand a value computed in a chapter to its prose, as myst-nb's ``glue`` does.

A chapter states the numbers of its outputs through glue, never by typing them: the code
cell calls ``glue("valid_rmse", rmse, display=False)`` and the prose writes
``{glue:text}`valid_rmse:.3f` ``, which the book's build replaces with the value of this run.

This is myst-nb's protocol (``myst_nb.glue``: the value's display data, under the
``application/papermill.record/`` prefix when it is not displayed, with ``scrapbook``
metadata naming it), written with IPython alone: a chapter opened as a notebook in Colab,
Binder or a course JupyterHub, where myst-nb is not installed, runs unchanged. The records
are written only while the book is built (``DLF_BOOK_BUILD`` set, as
``book/_ext/publishing.py`` does): when a reader runs the notebook, ``display=False`` shows
nothing and ``display=True`` shows the value as usual.
``tests/test_glue.py`` checks that both produce the same output.
"""

from __future__ import annotations

import os
from typing import Any

GLUE_PREFIX = "application/papermill.record/"


def glue(name: str, variable: Any, display: bool = True) -> None:
    """Record ``variable`` under ``name`` in the cell's outputs; show it too if ``display``.

    For numbers the prose formats, pass plain Python numbers (``float(t)``, ``int(n)``), not
    tensors: ``{glue:text}`name:.2f` `` reads the value back from its ``text/plain`` form.
    """
    from IPython.core.formatters import format_display_data
    from IPython.display import display as ipy_display

    if not os.environ.get("DLF_BOOK_BUILD"):
        if display:
            ipy_display(variable)
        return
    mimebundle, metadata = format_display_data(variable)
    mime_prefix = "" if display else GLUE_PREFIX
    metadata["scrapbook"] = dict(name=name, mime_prefix=mime_prefix)
    ipy_display({mime_prefix + k: v for k, v in mimebundle.items()}, raw=True, metadata=metadata)
