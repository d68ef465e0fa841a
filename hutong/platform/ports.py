"""What the platform needs from the rest of hutong, as small protocols. The composition root
(:meth:`hutong.app.Hutong.create`) passes real implementations; there are no do-nothing defaults, so a
platform can never silently run without recognition or without its own certificate authority."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class CertificateAuthority(Protocol):
    """This installation's own licence-certificate issuer."""

    def jwks(self) -> dict:
        """The published keys (a JWKS with an ``issuer`` member)."""
        ...

    def status_of(self, jti: str) -> dict | None:
        """The status claims of one of our certificates; None when the id is not ours."""
        ...


class Recogniser(Protocol):
    """Finds registered works in a video (a post that came without a certificate is held when it has any)."""

    def works_in(self, path: Path) -> list[str]:
        """Titles of the registered works the video uses (empty: none recognised)."""
        ...

    def held(self, post_id: str, path: Path, sha256: str, account_id: int) -> None:
        """A post was held for using registered works without a certificate: record the holders' claims on
        it, as their match policies say (docs/claims.md)."""
        ...


__all__ = ["CertificateAuthority", "Recogniser"]
