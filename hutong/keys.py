"""Signing keys on disk, one ring per purpose (``HUTONG_HOME/keys/<purpose>/``).

The active key signs; after a rotation the old key is *retired*: it signs nothing more but stays in the
published JWKS, so everything it signed still verifies. Private keys are files readable by the owner only.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from joserfc.jwk import OKPKey, RSAKey

from hutong.errors import HutongError

ALG = "Ed25519"  # RFC 9864's fully specified name for EdDSA over Ed25519


def write_private(path: Path, text: str) -> None:
    """Write a secret atomically, readable by its owner only (a unique temporary name: writers may race)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # mode 0600
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def create_private(path: Path, text: str) -> bool:
    """Write a secret unless ``path`` exists, atomically (written aside, then linked under its name, which
    fails if another process got there first). True when this call made it."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # mode 0600
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        Path(tmp).unlink(missing_ok=True)


class KeyRing:
    """``alg`` is Ed25519 (certificates) or RS256 (OpenID Connect ID tokens, which every client supports)."""

    def __init__(self, folder: Path, alg: str = ALG) -> None:
        if alg not in (ALG, "RS256"):
            raise ValueError(f"unsupported key ring algorithm {alg}")
        self.folder, self.alg = folder, alg
        self._ring = folder / "ring.json"
        self._cache: dict[str, OKPKey | RSAKey] = {}

    @contextmanager
    def _locked(self):
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.folder / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _state(self) -> dict:
        if not self._ring.exists():
            return {"active": None, "keys": []}
        try:
            return json.loads(self._ring.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise HutongError(f"{self._ring}: key ring is unreadable ({exc.__class__.__name__})") from None

    def _new_key(self, state: dict) -> str:
        key = (
            OKPKey.generate_key("Ed25519", private=True)
            if self.alg == ALG
            else RSAKey.generate_key(2048, private=True)
        )
        kid = key.thumbprint()[:16]
        write_private(self.folder / f"{kid}.jwk", json.dumps(key.as_dict(private=True)))
        now = datetime.now(UTC).isoformat()
        for k in state["keys"]:
            if k["retired"] is None:
                k["retired"] = now
        state["keys"].append({"kid": kid, "created": now, "retired": None})
        state["active"] = kid
        write_private(self._ring, json.dumps(state, indent=1))
        return kid

    def active_kid(self) -> str:
        """The signing key's id; the first call makes the first key."""
        state = self._state()
        if state["active"]:
            return state["active"]
        with self._locked():
            state = self._state()  # another process may have made it meanwhile
            return state["active"] or self._new_key(state)

    def rotate(self) -> str:
        with self._locked():
            return self._new_key(self._state())

    def private_key(self, kid: str) -> OKPKey | RSAKey:
        if kid not in self._cache:
            path = self.folder / f"{kid}.jwk"
            try:
                data = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError):
                raise HutongError(f"signing key {kid} is missing or unreadable in {self.folder}") from None
            self._cache[kid] = OKPKey.import_key(data) if self.alg == ALG else RSAKey.import_key(data)
        return self._cache[kid]

    def entries(self) -> list[dict]:
        self.active_kid()
        return self._state()["keys"]

    def jwks(self, **extra: object) -> dict:
        """Public keys of every key ever used (active and retired), as a JWKS document."""
        keys = []
        for entry in self.entries():
            public = self.private_key(entry["kid"]).as_dict(private=False)
            public.update({"kid": entry["kid"], "use": "sig", "alg": self.alg})
            keys.append(public)
        return {**extra, "keys": keys}
