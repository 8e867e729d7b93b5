"""The add-on offers exactly the backend's ``capture --tta`` choices, and each reaches the
detector's configuration."""

from __future__ import annotations

from inference_backend.cli import build_parser, capture_config
from inference_backend.config import TTA_MODES as BACKEND_MODES
from str_blender_addon.backend_contract import TTA_MODES as ADDON_MODES


def test_both_trees_name_the_same_tta_modes() -> None:
    assert ADDON_MODES == BACKEND_MODES
    args = build_parser().parse_args(["capture", "v.mp4", "-o", "o.npz"])
    assert args.tta == "none" == ADDON_MODES[0]
    assert capture_config(args).detection_config().tta == "none"
    for mode in ADDON_MODES:
        args = build_parser().parse_args(["capture", "v.mp4", "-o", "o.npz", "--tta", mode])
        assert capture_config(args).detection_config().tta == mode
