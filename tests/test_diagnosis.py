"""The likely-mistake diagnosis on an exception: a known mistake is named only when the
student's code raised the same exception (type and message) in a definition of the same
name as the mistake does on that probe, not merely an exception of the same type."""

from __future__ import annotations

import pytest

from autograder.reference import error_signature
from tests.submissions import grade, part, replace_in_cell, source_notebook

pytestmark = pytest.mark.task("collab")

DOT = "dot_product-solution"
LOOKUPS = "users = self.user_factors(x[:, 0])\n        items = self.item_factors(x[:, 1])"
SWAPPED_HINT = "users and items are swapped"


def _dot_product_messages(grader, tmp_path, new: str, extra: str = "") -> str:
    nb = replace_in_cell(source_notebook("collab"), DOT, LOOKUPS, new)
    if extra:
        nb = replace_in_cell(
            nb, DOT, "class DotProduct(nn.Module):", extra + "class DotProduct(nn.Module):"
        )
    result = grade(grader, tmp_path, nb, only=["dot_product"])
    failed = part(result, "dot_product")
    assert not failed.passed, result.to_text()
    return " ".join(failed.messages)


def test_the_same_error_in_the_same_place_names_the_mistake(grader, tmp_path):
    text = _dot_product_messages(
        grader, tmp_path, "items, users = (self.item_factors(x[:, 0]), self.user_factors(x[:, 1]))"
    )
    assert "IndexError" in text and SWAPPED_HINT in text, text


def test_an_unrelated_error_of_the_same_type_names_no_mistake(grader, tmp_path):
    """An IndexError, as the swapped mistake raises, but with another message."""
    text = _dot_product_messages(
        grader,
        tmp_path,
        "users = self.user_factors(x[:, 0])\n        items = self.item_factors(x[:, 2])",
    )
    assert "IndexError" in text and "Likely mistake" not in text, text


def test_the_same_error_in_another_place_names_no_mistake(grader, tmp_path):
    """The swapped lookup's very exception, raised in a helper of the student's own rather
    than in the lookup the mistake goes through: not the known mistake's place."""
    helper = "def lookup(table, idx):\n    return table.weight[idx]\n\n\n"
    text = _dot_product_messages(
        grader,
        tmp_path,
        "users = lookup(self.user_factors, x[:, 1])\n"
        "        items = lookup(self.item_factors, x[:, 0])",
        extra=helper,
    )
    assert "IndexError" in text and "(in `lookup`" in text, text
    assert "Likely mistake" not in text, text


def test_the_signature_masks_addresses_and_devices_and_keeps_the_places():
    a = error_signature(
        "RuntimeError: tensor at 0x7f3a on cuda:0  differs (in `forward`, line 3 of its cell)"
    )
    b = error_signature(
        "RuntimeError: tensor at 0x55aa on cpu differs (in `forward`, line 9 of its cell)"
    )
    assert a == b == ("RuntimeError: tensor at <address> on <device> differs", ("forward",))
    assert (
        error_signature("IndexError: index 2 is out of bounds")[0]
        != error_signature("IndexError: index 11 is out of bounds")[0]
    )
    assert (
        error_signature("TypeError: x (in `step`, line 1 of its cell)")[1]
        != error_signature("TypeError: x (in `forward`, line 1 of its cell)")[1]
    )
