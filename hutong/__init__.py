"""hutong (互通): recognise, license, certify and interconnect derivative short videos (二创)."""

__version__ = "0.1.0"
