"""Media: probe and decode anything FFmpeg reads; build derivative clips for demos, tests and benchmarks."""

from hutong.media.reader import MediaInfo, decode_only, probe, read_audio, sample_frames

__all__ = ["MediaInfo", "decode_only", "probe", "read_audio", "sample_frames"]
