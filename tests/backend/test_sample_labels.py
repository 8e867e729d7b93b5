"""The bundled sample's hand labels (bench/sample_labels.json) and their loader in
bench/sample_quality.py: the stored labels are well formed, bad files are clear errors, and the
planted share counts only the labelled frames."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


def _sample_quality():
    spec = importlib.util.spec_from_file_location("sample_quality",
                                                  REPO / "bench" / "sample_quality.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["sample_quality"] = mod          # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


sq = _sample_quality()


def test_stored_labels_cover_the_mans_track_once() -> None:
    labels = sq.load_labels()
    assert labels.frames == 135                       # the sample video's frame count
    m = labels.masks
    total = m["standing"].astype(int) + m["airborne"] + m["uncertain"]
    assert total.max() == 1                           # no frame in two classes
    assert total[:122].all() and not total[122:].any()  # his track is frames 0-121
    assert m["standing"].sum() == 99 and m["airborne"].sum() == 14
    # Each airborne run is flanked by uncertain frames (take-off / landing), never by standing.
    runs = np.flatnonzero(np.diff(m["airborne"].astype(int)))
    for edge in runs:
        assert not m["standing"][edge] and not m["standing"][edge + 1]
    assert "standing" in labels.definition and "airborne" in labels.definition


def _write(tmp_path: Path, **fields) -> Path:
    data = {"frames": 10, "definition": "d", **fields}
    p = tmp_path / "labels.json"
    p.write_text(json.dumps(data))
    return p


@pytest.mark.parametrize(("fields", "message"), [
    ({"standing": [[3, 2]]}, "standing range"),
    ({"standing": [[0, 10]]}, "standing range"),
    ({"airborne": [[1]]}, "airborne range"),
    ({"standing": [[0, 4]], "airborne": [[4, 6]]}, "both standing and airborne"),
    ({"frames": 0}, "positive integer"),
])
def test_bad_label_files_are_clear_errors(tmp_path: Path, fields: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        sq.load_labels(_write(tmp_path, **fields))


def test_unreadable_labels_name_the_file(tmp_path: Path) -> None:
    p = tmp_path / "broken.json"
    p.write_text("{not json")
    with pytest.raises(ValueError, match="broken.json"):
        sq.load_labels(p)


def test_planted_share_counts_labelled_valid_frames_only(tmp_path: Path) -> None:
    labels = sq.load_labels(_write(tmp_path, standing=[[0, 3]], airborne=[[5, 6]],
                                   uncertain=[[4, 4]]))
    # The motion file starts at video frame 1 (frame 0 unlabelled there).
    frames = np.arange(1, 9)
    contacts = np.zeros((8, 4))
    contacts[[0, 1], 2] = 0.9          # frames 1, 2 planted (standing)
    contacts[3, 0] = 0.7               # frame 4: uncertain, not counted
    contacts[4, 1] = 0.6               # frame 5: airborne and planted
    valid = np.ones(8, bool)
    valid[1] = False                   # frame 2 invalid: not planted
    share = sq.planted_share(contacts, valid, frames, labels)
    assert share["standing_frames"] == 3 and share["airborne_frames"] == 2
    assert share["planted_in_standing_pct"] == pytest.approx(100 / 3)
    assert share["planted_in_airborne_pct"] == pytest.approx(50.0)
