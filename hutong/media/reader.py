"""Probe and decode media with PyAV (FFmpeg). Every failure becomes a one-line :class:`MediaError`."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import av
import numpy as np

from hutong.errors import MediaError

MAX_SIDE = 16384  # larger frames are absurd for video and would exhaust memory when decoded
ANALYSIS_WIDTH = 256  # frames are analysed at this width; enough for layout detection, cheap to convert


@dataclass(frozen=True)
class MediaInfo:
    path: str
    size_bytes: int
    container: str
    duration: float
    has_video: bool
    has_audio: bool
    width: int = 0
    height: int = 0
    fps: float = 0.0
    video_codec: str = ""
    audio_codec: str = ""
    sample_rate: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def _check_file(path: Path, max_bytes: int | None) -> int:
    if not path.exists():
        raise MediaError(f"{path}: no such file")
    if not path.is_file():
        raise MediaError(f"{path}: not a regular file")
    size = path.stat().st_size
    if size == 0:
        raise MediaError(f"{path}: file is empty")
    if max_bytes is not None and size > max_bytes:
        raise MediaError(f"{path}: file is {size} bytes, over the limit of {max_bytes}")
    return size


def _open(path: Path) -> av.container.InputContainer:
    try:
        try:
            return av.open(str(path), mode="r", metadata_errors="ignore")
        except TypeError:  # PyAV >= 19 dropped the option (and no longer fails on undecodable metadata)
            return av.open(str(path), mode="r")
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise MediaError(f"{path}: not a media file FFmpeg can read ({_reason(exc)})") from None


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return " ".join(str(text).split())[:160]


def probe(path: str | Path, *, max_bytes: int | None = None, max_seconds: float | None = None) -> MediaInfo:
    """Describe a media file, refusing what cannot be analysed sensibly."""
    path = Path(path)
    size = _check_file(path, max_bytes)
    with _open(path) as container:
        v = container.streams.video[0] if container.streams.video else None
        a = container.streams.audio[0] if container.streams.audio else None
        if v is None and a is None:
            raise MediaError(f"{path}: no video or audio stream")
        duration = _duration(container, v, a)
        info = MediaInfo(
            path=str(path),
            size_bytes=size,
            container=container.format.name,
            duration=duration,
            has_video=v is not None,
            has_audio=a is not None,
        )
        if v is not None:
            w, h = v.codec_context.width, v.codec_context.height
            if w <= 0 or h <= 0:
                raise MediaError(f"{path}: video stream has no frame size")
            if w > MAX_SIDE or h > MAX_SIDE:
                raise MediaError(f"{path}: frame size {w}x{h} is absurd (limit {MAX_SIDE} per side)")
            fps = check_frame_rate(path, v.average_rate or v.guessed_rate or v.base_rate)
            info = MediaInfo(
                **{**info.as_dict(), "width": w, "height": h, "fps": fps, "video_codec": v.codec_context.name}
            )
        if a is not None:
            info = MediaInfo(
                **{
                    **info.as_dict(),
                    "audio_codec": a.codec_context.name,
                    "sample_rate": a.codec_context.sample_rate or 0,
                }
            )
    if not (duration > 0 and math.isfinite(duration)):
        raise MediaError(f"{path}: duration is unknown or zero")
    if max_seconds is not None and duration > max_seconds:
        raise MediaError(f"{path}: lasts {duration:.0f} s, over the limit of {max_seconds:.0f} s")
    return info


def check_frame_rate(path: Path, rate) -> float:
    """Frames per second as a float, refusing rates no real video has (0, negative, absurdly high)."""
    fps = float(rate) if rate else 0.0
    if not (0.5 <= fps <= 1000):
        raise MediaError(f"{path}: frame rate {fps:g} fps is not usable")
    return fps


def _duration(container, v, a) -> float:
    for stream in (v, a):
        if stream is not None and stream.duration and stream.time_base:
            return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return 0.0


#: below this many decoded frames per sample, every frame is decoded (nothing worth skipping)
SELECTIVE_MIN_FRAMES_PER_SAMPLE = 4


def sample_frames(
    path: str | Path,
    fps: float,
    *,
    width: int = ANALYSIS_WIDTH,
    info: MediaInfo | None = None,
    selective: bool = True,
    stats: dict[str, int] | None = None,
) -> Iterator[tuple[float, np.ndarray]]:
    """Yield ``(seconds, grey uint8 array)`` at ``fps`` samples per second, using frame timestamps.

    A sample is the first frame shown at or after each multiple of ``1/fps`` s. Only the sampled frames are
    converted. Frames that no other frame refers to (most B-frames) are not decoded at all unless their
    timestamp makes them a sample candidate (``selective``, when the frame rate is well above ``fps``): the
    decoder's per-packet ``skip_frame``. The samples are the same frames, with the same pixels, as a full
    decode gives; where a file's timestamps are irregular a sample can land on the next decoded frame instead
    (measured in tests: within a few frames). A file that stops decoding early is reported as truncated.
    ``stats``, when given, gets the number of frames decoded (``decoded``).
    """
    path = Path(path)
    info = info or probe(path)
    if not info.has_video:
        raise MediaError(f"{path}: has no video stream")
    selective = selective and info.fps >= SELECTIVE_MIN_FRAMES_PER_SAMPLE * fps
    if selective:
        frames = _sample(path, fps, width, info, selective=True, stats=stats)
        first = next(frames, None)
        if first is not None:
            yield first
            yield from frames
            return
        # Nothing came out with skipping (a codec that marks every frame droppable): decode every frame.
    yield from _sample(path, fps, width, info, selective=False, stats=stats)


def _sample(
    path: Path, fps: float, width: int, info: MediaInfo, *, selective: bool, stats: dict[str, int] | None
) -> Iterator[tuple[float, np.ndarray]]:
    height = max(2, round(width * info.height / info.width / 2) * 2)
    step = 1.0 / fps
    # a frame is a sample candidate when it is shown within 1.5 frame durations after a sample time
    margin = 1.5 / info.fps
    next_t = 0.0
    last_t = -1.0
    decoded = 0
    with _open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        codec = stream.codec_context
        tb = float(stream.time_base) if stream.time_base else 1.0 / info.fps
        start = float(stream.start_time * tb) if stream.start_time is not None else 0.0
        try:
            for packet in container.demux(stream):
                if selective:
                    # the decoder copies this setting per packet, so it applies to this packet's frame only
                    wanted = packet.pts is None or (packet.pts * tb - start + 1e-6) % step < margin
                    codec.skip_frame = "DEFAULT" if wanted else "NONREF"
                for frame in packet.decode():  # as container.decode does (an empty packet flushes)
                    decoded += 1
                    if stats is not None:
                        stats["decoded"] = decoded
                    t = float(frame.pts * tb) - start if frame.pts is not None else (decoded - 1) / info.fps
                    if t + 1e-6 < next_t or t <= last_t:
                        continue
                    last_t = t
                    next_t = (math.floor(t / step + 1e-6) + 1) * step
                    # area averaging: a thumbnail without aliasing (bilinear decimation adds noise to descriptors)
                    img = frame.reformat(
                        width=width, height=height, format="gray8", interpolation="AREA"
                    ).to_ndarray()
                    yield t, img
        except av.error.FFmpegError as exc:
            if decoded == 0:
                raise MediaError(f"{path}: video cannot be decoded ({_reason(exc)})") from None
            # Corrupt data past the first frames: treat as truncated below.
        except MemoryError:
            raise MediaError(f"{path}: frames too large to decode") from None
    if decoded == 0:
        if selective:
            return  # the caller decodes every frame instead
        raise MediaError(f"{path}: video stream holds no decodable frame")
    if info.duration > 4 and last_t < 0.5 * info.duration:
        raise MediaError(
            f"{path}: truncated or corrupt (decoded {max(last_t, 0):.1f} s of {info.duration:.1f} s declared)"
        )


def decode_only(path: str | Path) -> int:
    """Decode every video frame and do nothing else: the physical limit fingerprinting is compared with."""
    n = 0
    with _open(Path(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for _ in container.decode(stream):
            n += 1
    return n


def read_audio(path: str | Path, sample_rate: int, *, info: MediaInfo | None = None) -> np.ndarray:
    """Decode the first audio stream to mono float32 at ``sample_rate``."""
    path = Path(path)
    info = info or probe(path)
    if not info.has_audio:
        raise MediaError(f"{path}: has no audio stream")
    resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
    chunks: list[np.ndarray] = []
    with _open(path) as container:
        stream = container.streams.audio[0]
        try:
            for frame in container.decode(stream):
                frame.pts = None  # the resampler re-times; source gaps are irrelevant here
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
        except av.error.FFmpegError as exc:
            if not chunks:
                raise MediaError(f"{path}: audio cannot be decoded ({_reason(exc)})") from None
    if not chunks:
        raise MediaError(f"{path}: audio stream holds no decodable sample")
    return np.concatenate(chunks).astype(np.float32, copy=False)


def sha256_file(path: str | Path) -> str:
    """SHA-256 of the file's bytes (binds a certificate to exactly this file)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def streams_digest(path: str | Path) -> str:
    """SHA-256 over every packet's payload, stream by stream, in file order.

    It names the coded media, not the container: the same streams re-muxed, or with a C2PA manifest
    inserted, keep this digest, while any re-encoding or edited byte of picture or sound changes it.
    """
    path = Path(path)
    _check_file(path, None)
    digest = hashlib.sha256()
    with _open(path) as container:
        streams = [s for s in container.streams if s.type in ("video", "audio")]
        if not streams:
            raise MediaError(f"{path}: no audio or video stream")
        try:
            for packet in container.demux(streams):
                if packet.size:
                    digest.update(packet.stream.index.to_bytes(2, "big"))
                    digest.update(bytes(packet))
        except av.error.FFmpegError as exc:
            raise MediaError(f"{path}: cannot read the media streams ({_reason(exc)})") from None
    return digest.hexdigest()


def frame_png(path: str | Path, t: float, *, width: int = 320) -> bytes:
    """The frame shown at ``t`` seconds, as PNG bytes ``width`` pixels wide (for evidence sheets)."""
    path = Path(path)
    _check_file(path, None)
    with _open(path) as container:
        if not container.streams.video:
            raise MediaError(f"{path}: no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        base = stream.time_base
        start = float(stream.start_time * base) if stream.start_time is not None else 0.0
        try:
            container.seek(int(max(0.0, t + start - 0.5) / base), stream=stream, backward=True)
            chosen = None
            for frame in container.decode(stream):
                if frame.time is None:
                    continue
                chosen = frame
                if frame.time - start >= t:
                    break
        except av.error.FFmpegError as exc:
            raise MediaError(f"{path}: cannot decode the frame at {t:.2f} s ({_reason(exc)})") from None
        if chosen is None:
            raise MediaError(f"{path}: no frame at {t:.2f} s")
        height = max(2, round(chosen.height * width / chosen.width / 2) * 2)
        rgb = chosen.reformat(width=width, height=height, format="rgb24")
    encoder = av.CodecContext.create("png", "w")
    encoder.width, encoder.height, encoder.pix_fmt = width, height, "rgb24"
    return b"".join(bytes(p) for p in encoder.encode(rgb))


#: seconds between two windows of :func:`picture_changes` below which they are decoded as one stretch
#: (decoding on is cheaper than seeking back to a key frame)
JOIN_WINDOWS = 1.0


def picture_changes(
    path: str | Path, windows: list[tuple[float, float]], *, width: int = 64
) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each ``(t0, t1)`` window: the times of the frames in it (every frame, at the file's own rate)
    and how much each differs from the frame before it (mean absolute grey-level difference, 0-255).
    Decodes only those seconds, for placing cuts to the frame: windows that overlap or nearly touch (the
    end of one segment and the start of the next lie at the same cut) are decoded as one stretch, in time
    order, from the key frame before it."""
    path = Path(path)
    _check_file(path, None)
    for t0, t1 in windows:
        if not t1 > t0:
            raise MediaError(f"{path}: empty window {t0:.2f}-{t1:.2f} s")
    stretches: list[list[float]] = []
    for t0, t1 in sorted(windows):
        if stretches and t0 <= stretches[-1][1] + JOIN_WINDOWS:
            stretches[-1][1] = max(stretches[-1][1], t1)
        else:
            stretches.append([t0, t1])
    times: list[float] = []
    diffs: list[float] = []
    with _open(path) as container:
        if not container.streams.video:
            raise MediaError(f"{path}: no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        base = stream.time_base
        start = float(stream.start_time * base) if stream.start_time is not None else 0.0
        for t0, t1 in stretches:
            prev = None
            try:
                container.seek(int(max(0.0, t0 + start - 0.1) / base), stream=stream, backward=True)
                for frame in container.decode(stream):
                    if frame.time is None:
                        continue
                    t = frame.time - start
                    if t > t1:
                        break
                    height = max(2, round(frame.height * width / frame.width / 2) * 2)
                    img = frame.reformat(width=width, height=height, format="gray8").to_ndarray()
                    img = img.astype(np.int16)
                    if prev is not None and t >= t0:
                        times.append(t)
                        diffs.append(float(np.abs(img - prev).mean()))
                    prev = img
            except av.error.FFmpegError as exc:
                raise MediaError(f"{path}: cannot decode {t0:.2f}-{t1:.2f} s ({_reason(exc)})") from None
    at, change = np.asarray(times, float), np.asarray(diffs, float)
    out = []
    for t0, t1 in windows:
        inside = (at >= t0) & (at <= t1)
        out.append((at[inside], change[inside]))
    return out
