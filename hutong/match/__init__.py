"""Match: align fingerprint hits into segments and report which works a clip uses."""

from hutong.match.service import MatchReport, Recognizer, Segment

__all__ = ["MatchReport", "Recognizer", "Segment"]
