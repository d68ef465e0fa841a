"""Media: probe and decode anything FFmpeg reads; build derivative clips for demos, tests and benchmarks."""

from hutong.media.reader import (
    MediaInfo,
    decode_only,
    frame_png,
    picture_changes,
    probe,
    read_audio,
    sample_frames,
    sha256_file,
    streams_digest,
)

__all__ = ["MediaInfo", "decode_only", "frame_png", "picture_changes", "probe", "read_audio", "sample_frames", "sha256_file",
           "streams_digest"]  # fmt: skip
