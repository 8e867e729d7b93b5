"""The capture panel's Height field and the backend's ``--height`` accept the same texts and
mean the same heights (the add-on's ``core.subject_height`` and the backend's
``subject_size``; only tests import both trees)."""

from __future__ import annotations

import pytest

from inference_backend.subject_size import parse_heights
from str_blender_addon.core.subject_height import normalise_heights

GOOD = ["1.85", " 1.7 ", "0.5", "2.6", "1:1.85", "2:1.62,1:1.85", " 3:1.5 , 10:2.01 "]
BAD = ["tall", "0.49", "2.61", "1:", ":1.8", "1:1.8,1:1.7", "x:1.8", "1:1.8,1.7", "1,8"]


@pytest.mark.parametrize("text", GOOD)
def test_what_the_panel_sends_the_backend_reads_as_the_same_heights(text: str) -> None:
    sent = normalise_heights(text)
    assert parse_heights(sent) == parse_heights(text)


@pytest.mark.parametrize("text", BAD)
def test_what_the_backend_refuses_the_panel_refuses_first(text: str) -> None:
    with pytest.raises(ValueError):
        parse_heights(text)
    with pytest.raises(ValueError):
        normalise_heights(text)


def test_an_empty_field_means_estimated() -> None:
    assert normalise_heights("  ") == ""
