"""The web console under ``/console``: one module per role (rights holder, creator, platform reviewer,
developer) and the shared sign-in and home. Server-rendered; htmx swaps parts of pages. Each module's
router is ``APIRouter(prefix="/console/…", include_in_schema=False)``: pages, not part of the API contract."""

from hutong.api.routers.console import creator, developer, holder, home, review

ROUTERS = [home.router, holder.router, creator.router, review.router, developer.router]
