"""Platform adapters behind one interface, and the registry of those shipped with hutong."""

from hutong.distribute.adapters.base import (
    ADAPTERS,
    AdapterError,
    Capabilities,
    Connection,
    Outcome,
    PlatformAdapter,
    PostResult,
    Tokens,
    UploadState,
    register,
)
from hutong.distribute.adapters.douyin import DouyinAdapter, PlatformEvent
from hutong.distribute.adapters.hutong import HutongAdapter
from hutong.distribute.adapters.youtube import YouTubeAdapter

__all__ = [
    "ADAPTERS",
    "AdapterError",
    "Capabilities",
    "Connection",
    "DouyinAdapter",
    "HutongAdapter",
    "Outcome",
    "PlatformAdapter",
    "PlatformEvent",
    "PostResult",
    "Tokens",
    "UploadState",
    "register",
    "YouTubeAdapter",
]
