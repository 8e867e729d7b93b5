"""The add-on offers exactly the backend's ``capture --camera`` choices."""

from __future__ import annotations

from inference_backend.cli import build_parser
from inference_backend.config import CAMERA_MODES as BACKEND_MODES
from str_blender_addon.backend_contract import CAMERA_MODES as ADDON_MODES


def test_both_trees_name_the_same_camera_modes() -> None:
    assert ADDON_MODES == BACKEND_MODES
    args = build_parser().parse_args(["capture", "v.mp4", "-o", "o.npz"])
    assert args.camera == "auto" == ADDON_MODES[0]
    for mode in ADDON_MODES:
        assert build_parser().parse_args(
            ["capture", "v.mp4", "-o", "o.npz", "--camera", mode]).camera == mode
