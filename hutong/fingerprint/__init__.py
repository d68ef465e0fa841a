"""Fingerprint: signal types (video, audio) behind one small interface, and their registry.

A signal's ``name`` is a storage key: rename it and stored fingerprints no longer apply.
"""

from hutong.fingerprint.audio import AudioBandsSignal
from hutong.fingerprint.base import Fingerprint, SignalType, Variant
from hutong.fingerprint.video import VideoDCTSignal

SIGNAL_TYPES: dict[str, type[SignalType]] = {s.name: s for s in (VideoDCTSignal, AudioBandsSignal)}


def default_signals() -> list[SignalType]:
    return [cls() for cls in SIGNAL_TYPES.values()]


__all__ = ["SIGNAL_TYPES", "AudioBandsSignal", "Fingerprint", "SignalType", "Variant", "VideoDCTSignal", "default_signals"]
