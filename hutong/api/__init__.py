"""HTTP API (FastAPI): ``create_app`` builds the platform's web app from a composed :class:`hutong.app.Hutong`."""

from hutong.api.app import create_app

__all__ = ["create_app"]
