"""Errors a user can act on. Each carries a one-line message; the CLI prints it without a traceback."""


class HutongError(Exception):
    """Base class: ``str(err)`` is a complete, one-line explanation."""


class MediaError(HutongError):
    """The file is not media hutong can read (missing, empty, corrupt, truncated, absurd)."""


class CatalogueError(HutongError):
    """A catalogue operation was refused (unknown work, duplicate media...)."""
