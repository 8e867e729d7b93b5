"""Streaming video decoding with PyAV: exact timestamps, rotation, seeking, corrupt-frame skipping.

Frames come out of a generator one at a time (memory does not grow with video length), in the
*displayed* orientation (the container's rotation applied with ``np.rot90``), RGB uint8, and
downscaled when larger than ``DecodeConfig.detect_max_side`` so detection cost and memory stay
bounded for 8K input. ``DecodedFrame.scale`` converts the frame's pixels back to displayed-frame
pixels, the unit of every landmark the backend reports.

Timestamps are ``pts * time_base`` relative to the stream's first presentation time, so the first
frame of the video has time 0 and variable frame rate survives.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TypeVar

import av
import numpy as np

from .config import DecodeConfig
from .errors import CaptureError, ExitCode
from .motion_types import VideoInfo

log = logging.getLogger(__name__)

T = TypeVar("T")

_DECODE_ERRORS: tuple[type[BaseException], ...] = (av.error.FFmpegError, ValueError)


@dataclass(frozen=True)
class DecodedFrame:
    """One decoded frame.

    index: index of the frame in the video (0 = the stream's first frame). Exact when decoding
        from the start; after a seek it is estimated from the time and the nominal fps.
    time: presentation time in seconds from the stream's first frame.
    rgb: (h, w, 3) uint8, C-contiguous, displayed orientation, possibly downscaled.
    scale: displayed-frame pixels per ``rgb`` pixel (1.0 when not downscaled).
    grey: (h', w') uint8 grey copy, displayed orientation, longer side at most
        ``DecodeConfig.track_max_side`` (None when that is 0).
    grey_scale: displayed-frame pixels per ``grey`` pixel.
    """

    index: int
    time: float
    rgb: np.ndarray
    scale: float = 1.0
    grey: np.ndarray | None = None
    grey_scale: float = 1.0


@dataclass
class DecodeReport:
    """Mutable tally filled while a generator runs (read it after the loop ends)."""

    decoded: int = 0
    skipped: int = 0
    warnings: list[str] = field(default_factory=list)

    def warn(self, message: str, limit: int = 20) -> None:
        self.skipped += 1
        if len(self.warnings) < limit:
            self.warnings.append(message)
        elif len(self.warnings) == limit:
            self.warnings.append("further decoding warnings suppressed")
        log.warning(message)


def rotate_frame(rgb: np.ndarray, rotation: int) -> np.ndarray:
    """Rotate an (H, W, C) array by the container's counter-clockwise display rotation (degrees);
    the result is C-contiguous (PyAV's arrays keep ffmpeg's row padding; the detector needs
    contiguous rows, and making them here does it on the decoding thread).

    PyAV's ``frame.rotation`` is counter-clockwise (90 = turn the coded picture a quarter turn
    anticlockwise to display it), which is ``np.rot90(k=rotation // 90)``; this matches ffmpeg's
    autorotate pixel for pixel (checked in research/offline_probe.md §3).
    """
    k = (int(rotation) // 90) % 4
    return np.ascontiguousarray(np.rot90(rgb, k=k) if k else rgb)


def _normalise_rotation(rotation: float | int | None) -> int:
    if rotation is None or (isinstance(rotation, float) and math.isnan(rotation)):
        return 0
    return int(round(float(rotation) / 90.0)) * 90 % 360


#: ffmpeg demuxers that read one still picture (``image2`` also reads numbered image series,
#: but only when given a pattern, which a file path is not).
_STILL_IMAGE_FORMATS = frozenset({"image2"})


def _is_still_image(container: av.container.InputContainer) -> bool:
    """True when ffmpeg recognised a still image (PNG, JPEG, BMP, TIFF, WebP...), whatever the
    file is called: its demuxers for those are ``<kind>_pipe`` or ``image2``."""
    names = set((container.format.name or "").split(","))
    return bool(names & _STILL_IMAGE_FORMATS) or any(n.endswith("_pipe") for n in names)


def _unreadable_reason(path: Path, exc: BaseException | None = None) -> str:
    """Why ``path`` could not be opened, as advice: empty, an MP4/MOV whose index is missing
    (a recording that was not finished or a copy that was cut short), or an unknown format."""
    try:
        with path.open("rb") as handle:
            head = handle.read(12)
    except OSError as os_exc:
        return f"cannot read {path.name}: {os_exc.strerror or os_exc}"
    if not head:
        return f"{path.name} is empty (0 bytes); copy the video again"
    if head[4:8] == b"ftyp":
        return (f"{path.name} is an MP4/MOV file whose index (the 'moov' box) is missing or "
                "damaged, which happens when a recording was not finished (the camera or phone "
                "stopped or ran out of space) or the file was not copied completely; copy it "
                "again from the device, or repair it with an MP4 repair tool")
    if exc is None:
        return f"{path.name} contains no video stream"
    detail = getattr(exc, "strerror", None) or str(exc)
    return (f"cannot read {path.name} as a video ({detail}); use a common format such as "
            "MP4/MOV/MKV")


def _open(path: Path) -> av.container.InputContainer:
    if not path.exists():
        raise CaptureError(ExitCode.FILE_MISSING, f"video file not found: {path}")
    if not path.is_file():
        kind = "a folder" if path.is_dir() else "a device or pipe, not a regular file"
        raise CaptureError(ExitCode.NOT_A_VIDEO, f"{path} is {kind}; give a video file")
    try:
        container = av.open(str(path), mode="r")
    except _DECODE_ERRORS as exc:
        raise CaptureError(ExitCode.NOT_A_VIDEO, _unreadable_reason(path, exc)) from exc
    except OSError as exc:  # e.g. permission denied
        raise CaptureError(ExitCode.NOT_A_VIDEO,
                           f"cannot read {path.name}: {exc.strerror or exc}") from exc
    if _is_still_image(container):
        kind = next((n[: -len("_pipe")].upper() for n in container.format.name.split(",")
                     if n.endswith("_pipe")), "")
        container.close()
        raise CaptureError(
            ExitCode.NOT_A_VIDEO,
            f"{path.name} is a still image{f' ({kind})' if kind else ''}, not a video; a capture "
            "needs a video of at least half a second",
        )
    if not container.streams.video:
        audio_only = bool(container.streams.audio)
        container.close()
        raise CaptureError(ExitCode.NOT_A_VIDEO,
                           f"{path.name} contains no video stream (only sound)" if audio_only
                           else _unreadable_reason(path))  # e.g. an MP4 index cut off mid-way
    return container


def _stream_seconds(stream: av.video.stream.VideoStream) -> float:
    if stream.duration is None or stream.time_base is None:
        return 0.0
    return float(stream.duration * stream.time_base)


def video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream:
    """The video stream to capture when a file has several: not a cover picture (ffmpeg shows
    one as a video stream), then the longest, the one with most frames, the largest picture
    (a short low-resolution preview stored first is passed over). A single stream is itself."""
    streams = list(container.streams.video)
    if len(streams) == 1:
        return streams[0]
    cover = int(av.stream.Disposition.attached_pic)
    moving = [s for s in streams if not int(s.disposition) & cover] or streams
    return max(moving, key=lambda s: (_stream_seconds(s), s.frames or 0,
                                      (s.codec_context.width or 0) * (s.codec_context.height or 0)))


def pixel_aspect(stream: av.video.stream.VideoStream) -> float:
    """Width / height of one coded pixel as displayed (the sample aspect ratio; 1 when the
    file does not say or says something unusable)."""
    for source in (stream, stream.codec_context):
        ratio = getattr(source, "sample_aspect_ratio", None)
        if ratio and 0.2 <= float(ratio) <= 5.0:
            return float(ratio)
    return 1.0


def _first_frame(container: av.container.InputContainer, path: Path) -> av.VideoFrame | None:
    stream = video_stream(container)
    try:
        for packet in container.demux(stream):
            try:
                for frame in packet.decode():
                    return frame
            except _DECODE_ERRORS:
                continue
    except _DECODE_ERRORS as exc:
        raise CaptureError(
            ExitCode.NOT_A_VIDEO, f"cannot decode {path.name}: {exc}"
        ) from exc
    return None


@dataclass(frozen=True)
class VideoProbe:
    """``VideoInfo`` plus what decoding needs: the first pts and the stream's time base."""

    info: VideoInfo
    first_pts: int
    time_base: Fraction
    #: the stream carries no timestamps (a raw .h264/.hevc elementary stream): frame times are
    #: counted at ``info.fps``, the rate the stream's own timing information gives
    untimed: bool = False


def probe_video(path: Path | str) -> VideoProbe:
    """Open the video, decode its first frame, and describe it. Raises CaptureError on bad input."""
    path = Path(path)
    container = _open(path)
    try:
        stream = video_stream(container)
        first = _first_frame(container, path)
        if first is None:
            promised = int(stream.frames or 0)
            seconds = (container.duration or 0) / 1_000_000.0
            says = (f"holds {promised} frames" if promised
                    else f"lasts {seconds:.2f} s" if seconds > 0 else "")
            damaged = (f" although it says it {says}: the file is probably truncated or "
                       "damaged; copy it again" if says else "")
            raise CaptureError(ExitCode.ZERO_FRAMES,
                               f"{path.name} has no decodable video frames{damaged}")
        rotation = _normalise_rotation(getattr(first, "rotation", 0))
        coded_w, coded_h = int(first.width), int(first.height)
        # non-square pixels (DV/HDV camcorders, some broadcast files): frames are resampled to
        # the shape a player shows, so that pixels, landmarks and the focal length are square
        coded_w = max(1, int(round(coded_w * pixel_aspect(stream))))
        width, height = (coded_h, coded_w) if rotation in (90, 270) else (coded_w, coded_h)
        time_base = stream.time_base or Fraction(1, 1)
        untimed = first.pts is None and first.dts is None
        if untimed:  # the demuxer's average rate is its 25 fps default, the codec's is real
            rate = stream.guessed_rate or stream.average_rate or stream.base_rate
        else:
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        duration = 0.0
        if stream.duration is not None:
            duration = float(stream.duration * time_base)
        elif container.duration is not None:
            duration = container.duration / 1_000_000.0
        num_frames = int(stream.frames or 0)
        if fps <= 0.0 and num_frames and duration > 0:
            fps = num_frames / duration
        info = VideoInfo(
            path=str(path.resolve()),
            width=width,
            height=height,
            rotation=rotation,
            fps=fps if fps > 0 else 30.0,
            num_frames=num_frames,
            duration=duration,
            codec=stream.codec_context.name or "",
        )
        first_pts = int(first.pts if first.pts is not None else 0)
        return VideoProbe(info=info, first_pts=first_pts, time_base=Fraction(time_base),
                          untimed=untimed)
    finally:
        container.close()


#: Above this many pixels per frame, frame threading (which keeps one decoded picture per thread
#: in flight: ~50 MB each at 8K) is swapped for slice threading. Measured on a 7680x4320 H.264
#: clip, 2 cores: AUTO peak 413 MB / 2.7 s, SLICE 218 MB / 2.0 s for 18 frames.
_FRAME_THREADING_MAX_PIXELS = 3840 * 2160

#: The decoder runs on one thread up to 4K UHD. With frame threads, how a damaged picture is
#: concealed (and whether it is flagged corrupt) depends on the threads' timing: a byte flipped
#: in one P-frame of the sample gave 15 different pixel sets in 20 decodes (docs/bad_inputs.md).
#: One thread decodes the same file to the same pixels on every run; clean files decode
#: bit-identically either way. Above this many pixels per frame the one-thread decoder runs on
#: a thread of its own, a few packets ahead of the conversions (``prefetch``), so that decoding
#: and scaling overlap: measured at 3840x2160 (2 cores, loaded) one-thread decoding takes
#: 18-20 ms per frame and the scaling to 1920x1080 RGB plus the grey copy about as much, while
#: frame threads with the conversions after them took 22-31 ms. Up to 1920x1200 decoding is
#: cheap (1768x994: 11-13 ms per frame with the conversions, one landmark pass ~22 ms) and
#: stays on the calling thread.
_DECODE_AHEAD_MIN_PIXELS = 1920 * 1200


def _thread_type(info: VideoInfo, threads: int = 0) -> str:
    """PyAV threading: 'NONE' (one thread: deterministic on damaged files) up to 4K UHD or when
    ``threads`` is 1, 'SLICE' beyond (frame threads would keep too many 8K pictures in memory;
    slice threads do not conceal damage, and decode a damaged file the same way every run)."""
    pixels = info.width * info.height
    if threads == 1 or pixels <= _FRAME_THREADING_MAX_PIXELS:
        return "NONE"
    return "SLICE"


def _decodes_ahead(info: VideoInfo) -> bool:
    """Whether the decoder gets a thread of its own ahead of the conversions (pictures larger
    than 1920x1200)."""
    return info.width * info.height > _DECODE_AHEAD_MIN_PIXELS


_Decoded = tuple["av.Packet | None", "list[av.VideoFrame] | BaseException"]


def _decode_packets(container: av.container.InputContainer,
                    stream: av.video.stream.VideoStream) -> Iterator[_Decoded]:
    """(packet, its decoded frames) per packet in file order; (packet, error) for a packet that
    failed to decode; (None, error) last when demuxing fails."""
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except _DECODE_ERRORS as exc:
            yield None, exc
            return
        try:
            decoded: list[av.VideoFrame] | BaseException = list(packet.decode())
        except _DECODE_ERRORS as exc:
            decoded = exc
        yield packet, decoded


def _set_threading(stream: av.video.stream.VideoStream, mode: str, threads: int) -> None:
    """Apply ``_thread_type``'s mode (and ``threads`` when > 0, for the threaded modes)."""
    stream.thread_type = mode
    if mode == "NONE":
        stream.codec_context.thread_count = 1
    elif threads > 0:
        stream.codec_context.thread_count = threads


def _target_size(width: int, height: int, max_side: int) -> tuple[int, int, float]:
    """Coded size to reformat to so the longer side is <= max_side; returns (w, h, scale)."""
    longest = max(width, height)
    if max_side <= 0 or longest <= max_side:
        return width, height, 1.0
    scale = longest / float(max_side)
    new_w = max(2, int(round(width / scale)) // 2 * 2)
    new_h = max(2, int(round(height / scale)) // 2 * 2)
    return new_w, new_h, width / float(new_w)


class FrameConverter:
    """Converts decoded frames to one pixel format (and size) with one swscale context kept
    for the whole video.

    ``VideoFrame.to_ndarray(format=...)`` makes a new scaler per frame, which sets itself up
    again (filters, and a thread pool sized to the CPU: two threads started and stopped per
    frame on a 2-core machine) each time: on the 960x540 two-person benchmark clip that was
    about 1 ms of CPU per frame more than converting with a kept context, for the same pixels.
    The scaler runs on the calling (decoding) thread only (``threads=1``): the decoder's own
    threads already use the other cores, and one thread converts a 1920x1080 frame in a few
    milliseconds, far ahead of detection.
    """

    def __init__(self, pixel_format: str) -> None:
        from av.video.reformatter import VideoReformatter

        self.pixel_format = pixel_format
        self._scaler = VideoReformatter()

    def convert(self, frame: av.VideoFrame, width: int, height: int) -> np.ndarray:
        """(height, width, channels) uint8 (``(height, width)`` for grey) of ``frame`` in this
        converter's format; bilinear scaling, as ``to_ndarray`` does."""
        converted = self._scaler.reformat(frame, width=width, height=height,
                                          format=self.pixel_format, threads=1)
        return converted.to_ndarray()


def iter_frames(
    probe: VideoProbe,
    config: DecodeConfig | None = None,
    report: DecodeReport | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Iterator[DecodedFrame]:
    """Yield frames in presentation order between ``config.start`` and ``config.end`` seconds.

    A packet that fails to decode is skipped and counted in ``report`` (with a warning) instead
    of ending the capture; ``should_stop`` is polled once per packet so cancellation is prompt.
    """
    info = probe.info
    config = config if config is not None else DecodeConfig()
    report = report if report is not None else DecodeReport()
    start = max(0.0, float(config.start or 0.0))
    end = math.inf if config.end is None else float(config.end)
    threading_mode = _thread_type(info, config.threads)
    container = _open(Path(info.path))
    decoded: Iterator[_Decoded] | None = None
    try:
        stream = video_stream(container)
        _set_threading(stream, threading_mode, config.threads)
        time_base = probe.time_base
        seeking = start > 0.0 and not probe.untimed  # untimed: decode from the start
        if seeking:
            target_pts = int(probe.first_pts + start / time_base)
            try:
                container.seek(target_pts, stream=stream, backward=True, any_frame=False)
            except _DECODE_ERRORS as exc:
                # not seekable (e.g. a damaged index): decode from the start and skip forward
                log.warning("seeking to %.3f s failed (%s); decoding from the start", start, exc)
                container.close()
                container = _open(Path(info.path))
                stream = video_stream(container)
                _set_threading(stream, threading_mode, config.threads)
                seeking = False
        coded_w = info.height if info.rotation in (90, 270) else info.width
        coded_h = info.width if info.rotation in (90, 270) else info.height
        out_w, out_h, scale = _target_size(coded_w, coded_h, config.detect_max_side)
        grey_w, grey_h, grey_scale = _target_size(coded_w, coded_h, config.track_max_side)
        to_rgb, to_grey = FrameConverter("rgb24"), FrameConverter("gray")
        index = -1  # index of the last frame seen (decoded, skipped or corrupt)
        out_of_order = 0  # frames left out for a timestamp not after the previous one
        last_time = -math.inf
        decoded = _decode_packets(container, stream)
        if _decodes_ahead(info):
            decoded = prefetch(decoded, depth=2, name="str-mocap-decode-ahead")
        past_end = False
        while not past_end:
            if should_stop is not None and should_stop():
                return
            packet, frames = next(decoded, (None, None))
            if packet is None:
                if frames is not None:
                    report.warn(f"demuxing stopped early after {report.decoded} frames: {frames}")
                break
            if isinstance(frames, BaseException):
                exc = frames
                where = f"{float(packet.pts * time_base):.3f} s" if packet.pts is not None else "?"
                report.warn(f"a frame near {where} could not be decoded and was skipped ({exc})")
                index += 1
                continue
            for frame in frames:
                pts = frame.pts if frame.pts is not None else frame.dts
                if probe.untimed:
                    time = (index + 1) / info.fps  # the next frame at the nominal rate
                elif pts is None:
                    report.warn("a frame without a timestamp was skipped")
                    continue
                else:
                    time = float((pts - probe.first_pts) * time_base)
                if time <= last_time:
                    # duplicate or out of order (can happen right after a seek): a motion
                    # needs increasing times, so the frame is left out
                    out_of_order += not seeking
                    continue
                last_time = time
                if index < 0 and seeking:
                    index = int(round(time * info.fps))
                else:
                    index += 1
                if time + 1e-6 < start:
                    continue
                if time > end + 1e-6:
                    past_end = True
                    break
                if getattr(frame, "is_corrupt", False):
                    report.warn(f"frame {index} at {time:.3f} s is corrupt and was skipped")
                    continue
                rgb = to_rgb.convert(frame, out_w, out_h)
                rotation = _normalise_rotation(getattr(frame, "rotation", info.rotation))
                grey = None
                if config.track_max_side > 0:
                    grey = rotate_frame(to_grey.convert(frame, grey_w, grey_h), rotation)
                report.decoded += 1
                yield DecodedFrame(
                    index=index, time=time, rgb=rotate_frame(rgb, rotation), scale=scale,
                    grey=grey, grey_scale=grey_scale,
                )
        if probe.untimed:
            report.warnings.append(untimed_stream(Path(info.path).name, info.fps))
            log.warning(report.warnings[-1])
        if out_of_order:
            report.warnings.append(disordered_timestamps(out_of_order, Path(info.path).name))
            log.warning(report.warnings[-1])
        missing = missing_tail(info, last_time, end)
        if missing:
            report.warnings.append(missing)
            log.warning(missing)
    finally:
        if decoded is not None:
            decoded.close()  # stops the decode-ahead thread before the container closes
        container.close()


def untimed_stream(name: str, fps: float) -> str:
    """The warning for a stream without timestamps (frame times counted at ``fps``)."""
    return (f"{name} has no timestamps (a raw video stream without a container): frame times "
            f"assume its stated {fps:g} fps; if the motion's speed looks wrong, put the stream "
            "into an MP4 or MKV with the right frame rate")


def disordered_timestamps(count: int, name: str) -> str:
    """The warning for ``count`` frames left out because their timestamp repeated or went back."""
    return (f"{count} frame{'s' if count != 1 else ''} of {name} had a timestamp that repeated "
            "or went back in time and were left out (the file's timestamps are damaged, e.g. by "
            "an editing or screen-recording tool); the motion keeps the frames in time order")


def missing_tail(info: VideoInfo, last_time: float, end: float = math.inf) -> str:
    """A warning when decoding stopped before the span the container promises ('' otherwise).

    ``last_time``: time (s) of the last frame the stream yielded (-inf: none); ``end``: the
    requested end (s). The expected last frame is one frame interval before the container's
    duration (or ``end``); more than half an interval short of it means frames are missing,
    typically a truncated file whose index (at the front) still lists every frame.
    """
    if info.duration <= 0 or info.fps <= 0 or not math.isfinite(last_time):
        return ""
    step = 1.0 / info.fps
    expected_last = min(end, info.duration - step)
    if last_time >= expected_last - 0.5 * step:
        return ""
    first_missing = last_time + step
    count = max(1, int(round((expected_last - last_time) * info.fps)))
    total = f" of {info.num_frames}" if info.num_frames and math.isinf(end) else ""
    return (
        f"the video ends early: no frame could be read after {last_time:.3f} s although "
        f"{Path(info.path).name} says it lasts {info.duration:.3f} s; about {count}{total} "
        f"frames from {first_missing:.3f} s to {expected_last:.3f} s are missing (the file is "
        "probably truncated or was not fully copied); the motion covers only the part before"
    )


_END = object()


def prefetch(
    frames: Iterator[T], depth: int = 4, name: str = "str-mocap-decode"
) -> Generator[T, None, None]:
    """Run ``frames`` (a decoding generator) in a background thread, ``depth`` frames ahead.

    Decoding then overlaps with detection (PyAV and the TFLite runtime release the GIL). Memory
    stays bounded by ``depth`` frames. Errors raised by the decoder are re-raised here, in
    order; closing this generator (or an exception in the consumer) stops the thread. The
    pipeline also runs detection this way (``name`` names the thread), one stage per thread.
    """
    buffer: queue.Queue[object] = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for frame in frames:
                if not put(frame):
                    return
        except BaseException as exc:  # handed to the consumer
            put(exc)
            return
        finally:
            close = getattr(frames, "close", None)
            if close is not None and stop.is_set():
                close()
        put(_END)

    worker = threading.Thread(target=produce, name=name, daemon=True)
    worker.start()
    try:
        while True:
            item = buffer.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        worker.join(timeout=5.0)
