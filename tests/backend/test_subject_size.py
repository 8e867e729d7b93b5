"""--height parsing (inference_backend.subject_size) and the CLI's use of it."""

from __future__ import annotations

import pytest

from inference_backend.subject_size import SubjectHeights, parse_heights


def test_one_height_for_everyone_and_per_track_heights() -> None:
    assert parse_heights("1.85") == SubjectHeights(everyone=1.85)
    both = parse_heights(" 2:1.62, 1:1.85 ")
    assert both.per_track == ((1, 1.85), (2, 1.62))
    assert both.for_track(1) == 1.85 and both.for_track(2) == 1.62
    assert both.for_track(3) is None
    assert parse_heights("1.85").for_track(9) == 1.85
    for text in ("1.85", "1:1.85,2:1.62"):
        assert parse_heights(parse_heights(text).to_text()) == parse_heights(text)


@pytest.mark.parametrize("text, message", [
    ("", "empty height"), ("tall", "not a number"), ("0.3", "0.5-2.6 m"),
    ("185", "0.5-2.6 m"), ("1:1.85,1:1.7", "given twice"), ("a:1.8", "track ids are integers"),
    ("1:1.8,1.7", "use TRACK:METRES"),
])
def test_bad_heights_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_heights(text)


def test_cli_takes_height_into_the_capture_config(tmp_path) -> None:
    from inference_backend.cli import build_parser, capture_config
    from inference_backend.pipeline import scene_config_for

    args = build_parser().parse_args(["capture", "v.mp4", "-o", str(tmp_path / "o.npz"),
                                      "--height", "1:1.85,2:1.62"])
    config = capture_config(args)
    assert config.subject_heights == "1:1.85,2:1.62"
    assert scene_config_for(config).subject_heights.for_track(2) == 1.62
    plain = capture_config(build_parser().parse_args(["capture", "v.mp4", "-o", "o.npz"]))
    assert plain.subject_heights is None and scene_config_for(plain).subject_heights is None


def test_cli_refuses_a_bad_height_with_a_usage_error(capsys) -> None:
    from inference_backend.cli import main
    from inference_backend.errors import ExitCode

    with pytest.raises(SystemExit) as exc:
        main(["capture", "v.mp4", "-o", "o.npz", "--height", "6ft"])
    assert exc.value.code == int(ExitCode.USAGE)
    assert "not a number of metres" in capsys.readouterr().err
