"""The rights holder's console: the catalogue of the holder's works."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from hutong.api.console import HolderSeat, ListDep, render_list
from hutong.api.deps import HutongDep

router = APIRouter(prefix="/console/holder", include_in_schema=False)


@router.get("")
def holder_home():
    return RedirectResponse("/console/holder/works", status_code=303)


@router.get("/works", response_class=HTMLResponse)
def holder_works(request: Request, h: HutongDep, seat: HolderSeat, query: ListDep):
    page = h.catalogue.page(seat.membership.holders, query)
    return render_list(request, seat, "console/holder/works.html", "console/holder/_works_table.html", page)
