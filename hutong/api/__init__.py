"""HTTP API (FastAPI): `create_app` builds the platform's web app."""
