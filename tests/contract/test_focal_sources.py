"""``camera.focal_source``: the values the capture writes, ``capture --help`` and
docs/motion_file.md name the same set (issue 17: the help, the README and the header agree)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from inference_backend.camera import FOCAL_SOURCES, choose_intrinsics
from inference_backend.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]


def test_choose_intrinsics_writes_only_documented_sources_in_rank_order() -> None:
    override, _ = choose_intrinsics([], 640, 360, 50.0, footage_fov_deg=64.0)
    turned, _ = choose_intrinsics([], 640, 360, None, footage_fov_deg=64.0)
    prior, notes = choose_intrinsics([], 640, 360, None)
    assert (override.source, turned.source, prior.source) == ("override", "camera_rotation",
                                                             "prior")
    assert {override.source, turned.source, prior.source} < set(FOCAL_SOURCES)
    assert "not observable" in notes[0] and "60 deg" in notes[0] and "--fov" in notes[0]
    # a static camera with no people: the same prior
    assert np.isclose(prior.fov_x_deg, 60.0)


def test_help_and_motion_file_doc_name_every_focal_source(capsys) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["capture", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    named = re.search(r"camera\.focal_source ([a-z_ |]+)\)", help_text)
    assert named, help_text
    assert tuple(s.strip() for s in named.group(1).split("|")) == FOCAL_SOURCES
    doc = (ROOT / "docs" / "motion_file.md").read_text(encoding="utf-8")
    paragraph = doc[doc.index("`camera.focal_source` says"):]
    paragraph = paragraph[:paragraph.index("\n\n")]
    assert set(re.findall(r"`([a-z_]+)`", paragraph)) >= set(FOCAL_SOURCES)
