"""One router per role. Routes parse, call one service and shape the answer; services own queries and
ownership checks."""

from hutong.api.routers import (
    accounts,
    claims,
    console,
    content,
    developers,
    distribution,
    interconnect,
    oauth,
    pages,
    public,
)

ALL = [public.router, pages.router, oauth.router, accounts.router, developers.router, content.router,
       interconnect.router, distribution.router, claims.router, *console.ROUTERS]  # fmt: skip
