"""Errors a user can act on. Each carries a one-line message; the CLI prints it without a traceback."""


class HutongError(Exception):
    """Base class: ``str(err)`` is a complete, one-line explanation."""


class MediaError(HutongError):
    """The file is not media hutong can read (missing, empty, corrupt, truncated, absurd)."""


class CatalogueError(HutongError):
    """A catalogue operation was refused (unknown work, duplicate media...)."""


class RightsError(HutongError):
    """A creator or licence operation was refused (unknown work, dates in the wrong order, overlap...)."""


class CertificateError(HutongError):
    """A certificate could not be issued, read or embedded (not: a certificate that fails verification)."""


class PlatformError(HutongError):
    """An open-platform request was refused; ``status`` is the HTTP status that says why."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class Unavailable(HutongError):
    """A service hutong depends on (Milvus, Redis) cannot be reached right now: retry later (HTTP 503)."""
