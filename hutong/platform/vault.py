"""Personal data at rest: AES-256-GCM with versioned keys, and a slow keyed tag to find duplicates.

Keys live in ``HUTONG_HOME/keys/data/`` (or wherever ``HUTONG_KEYS_DIR`` points, e.g. a mounted secret), made on
first use. Each ciphertext starts with its key id, so after :meth:`Vault.rotate` old records still decrypt and
:func:`re-encryption <hutong.platform.developers.Developers.reencrypt>` moves them to the new key. The HMAC key
is separate and never rotated with the encryption keys, so duplicate detection keeps working across rotations.

A resident ID number has about 36 bits of entropy (place, date of birth, serial), so a fast keyed hash of it
is recovered in seconds by whoever holds the data folder, key included. The tag that the duplicate rule keeps
after the ID itself is deleted is therefore the keyed HMAC stretched by Argon2id (:data:`TAG_COST`): still
the same for the same number, but each guess costs a 64 MiB memory-hard computation.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path

from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hutong.errors import HutongError
from hutong.keys import write_private
from hutong.store.models import utcnow

# RFC 9106's second recommended Argon2id setting (64 MiB, 3 passes): about 0.2-0.5 s per tag on one core.
# Changing it changes every tag: existing ones would no longer match (the migration that made them uses it).
TAG_COST = {"time_cost": 3, "memory_cost": 64 * 1024, "parallelism": 1}
TAG_SALT = b"hutong legal-representative tag v1"  # the key is the secret; the salt only separates uses


def stretch(digest: bytes) -> str:
    """Argon2id over a keyed HMAC: the tag stored for duplicate detection (64 hex characters)."""
    return hash_secret_raw(digest, TAG_SALT, hash_len=32, type=Type.ID, **TAG_COST).hex()


class Vault:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._file = folder / "data-keys.json"
        self._state: dict | None = None
        self._seen: int | None = None  # the file's mtime when last read or written

    def _read(self) -> dict:
        try:
            return json.loads(self._file.read_text())
        except (OSError, json.JSONDecodeError):
            raise HutongError(f"{self._file}: data key file is unreadable") from None

    def _load(self) -> dict:
        # a key made by another process (`hutong platform rotate-data-key`, another API process) is seen at
        # the next use: the file is read again whenever it changed (one stat per use)
        if self._state is not None and self._changed():
            self._state = self._read()
        if self._state is None:
            if self._file.exists():
                self._state = self._read()
            else:
                self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
                with open(
                    self.folder / ".lock", "w"
                ) as lock:  # the server and a CLI command may start at once
                    fcntl.flock(lock, fcntl.LOCK_EX)
                    if self._file.exists():
                        self._state = self._read()
                    else:
                        hmac_key = base64.b64encode(secrets.token_bytes(32)).decode()
                        self._state = {"active": None, "keys": {}, "hmac": hmac_key}
                        self._new_key()
        return self._state

    def _changed(self) -> bool:
        try:
            seen = self._file.stat().st_mtime_ns
        except FileNotFoundError:
            return False
        changed, self._seen = seen != self._seen, seen
        return changed

    def _new_key(self) -> str:
        state = self._state
        assert state is not None
        kid = f"k{len(state['keys']) + 1}-{secrets.token_hex(3)}"
        state["keys"][kid] = {
            "key": base64.b64encode(AESGCM.generate_key(bit_length=256)).decode(),
            "created": utcnow().isoformat(),
        }
        state["active"] = kid
        write_private(self._file, json.dumps(state, indent=1))
        self._changed()  # our own write is not news
        return kid

    @property
    def active(self) -> str:
        return self._load()["active"]

    def rotate(self) -> str:
        self._load()
        return self._new_key()

    def _key(self, kid: str) -> AESGCM:
        entry = self._load()["keys"].get(kid)
        if entry is None:
            raise HutongError(f"data key {kid} is not in {self._file}: cannot decrypt")
        return AESGCM(base64.b64decode(entry["key"]))

    def encrypt(self, plaintext: str, *, context: str) -> bytes:
        """``kid|nonce|ciphertext``; ``context`` (e.g. the record's id) is bound as associated data, so a
        ciphertext copied to another record does not decrypt there."""
        kid = self.active
        nonce = os.urandom(12)
        sealed = self._key(kid).encrypt(nonce, plaintext.encode(), context.encode())
        return kid.encode() + b"|" + nonce + sealed

    def decrypt(self, blob: bytes, *, context: str) -> str:
        kid, sep, rest = blob.partition(b"|")
        if not sep or len(rest) < 12 + 16:
            raise HutongError("encrypted field is damaged")
        try:
            return self._key(kid.decode()).decrypt(rest[:12], rest[12:], context.encode()).decode()
        except InvalidTag:
            raise HutongError("encrypted field does not decrypt (wrong key or tampered)") from None

    @staticmethod
    def key_id(blob: bytes) -> str:
        return blob.partition(b"|")[0].decode()

    def fingerprint(self, value: str, *, purpose: str) -> str:
        """Keyed HMAC-SHA256: equal values give equal fingerprints, and without the key nothing can be
        learned from it. Fast: for short-lived secrets only (a deposit amount); see :meth:`legal_rep_tag`."""
        key = base64.b64decode(self._load()["hmac"])
        return hmac.new(key, f"{purpose}\x00{value}".encode(), hashlib.sha256).hexdigest()

    def legal_rep_tag(self, resident_id: str) -> str:
        """The duplicate tag of a (validated, compact) resident ID: :func:`stretch` of its keyed HMAC."""
        return stretch(bytes.fromhex(self.fingerprint(resident_id, purpose="resident-id")))
