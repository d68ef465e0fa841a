"""Clips a creator sends to this installation over HTTP to publish them (``POST /api/distribution/clips``):
kept content-addressed under ``HUTONG_HOME/distribution/clips/<sha256>``, so a publish request names a clip
by its SHA-256 and never by a path on the server. The certificate still decides: a clip is published only
with a certificate issued for exactly these bytes."""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import time
from datetime import timedelta
from pathlib import Path

from hutong.errors import HutongError

CLIP_ID = re.compile(r"^[0-9a-f]{64}$")


class ClipError(HutongError):
    """A clip upload was refused (empty, too large)."""


class UnknownClip(ClipError):
    """No clip with that id was sent to this installation."""


class ClipWriter:
    """One upload in progress: bytes go to a temporary file while they are hashed; :meth:`finish` moves
    the file to its content address (an upload of bytes already here just keeps the one copy)."""

    def __init__(self, folder: Path, max_bytes: int) -> None:
        self.folder, self.max_bytes = folder, max_bytes
        folder.mkdir(parents=True, exist_ok=True)
        self.tmp = folder / f".upload-{secrets.token_hex(8)}"
        self._f = self.tmp.open("wb")
        self._h = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.max_bytes:
            self.abort()
            raise ClipError(f"the clip is over {self.max_bytes} bytes")
        self._h.update(data)
        self._f.write(data)

    def finish(self) -> tuple[str, int]:
        self._f.close()
        if self.size == 0:
            self.tmp.unlink(missing_ok=True)
            raise ClipError("the clip is empty: send the video's bytes as the request body")
        digest = self._h.hexdigest()
        os.replace(self.tmp, self.folder / digest)
        return digest, self.size

    def abort(self) -> None:
        if not self._f.closed:
            self._f.close()
        self.tmp.unlink(missing_ok=True)


class Clips:
    def __init__(self, folder: Path, max_bytes: int) -> None:
        self.folder, self.max_bytes = folder, max_bytes

    def writer(self) -> ClipWriter:
        return ClipWriter(self.folder, self.max_bytes)

    def path(self, clip_id: str) -> Path:
        if not CLIP_ID.match(clip_id or ""):
            raise UnknownClip(
                "a clip id is the SHA-256 (64 hex digits) that POST /api/distribution/clips returned"
            )
        path = self.folder / clip_id
        if not path.is_file():
            raise UnknownClip(f"no clip {clip_id} here: send it first (POST /api/distribution/clips)")
        return path

    def cleanup(self, in_use: tuple[set[str], set[str]], grace: timedelta) -> list[str]:
        """Delete the clips no job needs: ``in_use`` is (paths some job may still need, paths only settled
        jobs name); a clip no job names is kept for ``grace`` after it was sent (it may be published yet),
        and so is an upload left half-written. Returns the clip ids deleted."""
        needed, settled = in_use
        if not self.folder.is_dir():
            return []
        cutoff, gone = time.time() - grace.total_seconds(), []
        for entry in os.scandir(self.folder):
            path = str(Path(entry.path).resolve())
            if path in needed or not entry.is_file():
                continue
            try:
                old = entry.stat().st_mtime < cutoff
            except FileNotFoundError:
                continue
            if path in settled or old:
                Path(entry.path).unlink(missing_ok=True)
                if CLIP_ID.match(entry.name):
                    gone.append(entry.name)
        return gone
