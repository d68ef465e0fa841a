"""``hutong serve`` and the platform staff's commands (appeals, manual review, app suspension, keys,
data retention)."""

from __future__ import annotations

from typing import Annotated

import typer

from hutong.cli.app import JsonOpt, app, emit_json, out, service
from hutong.cli.output import IdArg

platform_app = typer.Typer(help="The open platform: staff commands.", no_args_is_help=True)
app.add_typer(platform_app, name="platform")


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[
        int | None, typer.Option(help="TCP port (default: the port of this installation's issuer).")
    ] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="API processes sharing the port. 1 (default): one process that also runs the publishing "
            "jobs on the embedded queue. More: each process serves requests and delivers webhooks; they need "
            "a database on disk or PostgreSQL (not SQLite in memory; PostgreSQL across machines), and the job "
            "queue then needs a separate `hutong worker` (and Redis, HUTONG_REDIS_URL, for workers on "
            "several machines). See docs/deploy.md.",
        ),
    ] = 1,
) -> None:
    """Run the open platform (web pages, JSON API, OAuth 2.0 / OpenID Connect; OpenAPI at /docs)."""
    import os

    import uvicorn

    from hutong.api.app import create_app
    from hutong.app import Hutong
    from hutong.config import get_settings, resolve_issuer, serve_port, shared_database
    from hutong.logs import configure

    configure("info" if log_level in ("info", "debug") else log_level)
    # a fresh installation takes the URL clients reach this server at as its issuer; after that the
    # stored issuer decides the port, so keys are never published under a second identity
    local = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    settings = resolve_issuer(get_settings(), first=f"http://{local}:{port or 8000}")
    port = serve_port(settings.issuer, port, behind_proxy=settings.behind_proxy)
    from hutong.api.protocol import HTTP

    options = {
        "host": host,
        "port": port,
        "log_level": log_level,
        "access_log": log_level == "debug",
        "http": HTTP,
    }
    if workers == 1:
        h = Hutong.create(settings)
        out.print(f"hutong serving {settings.issuer} (data in {settings.home})", highlight=False)
        uvicorn.run(create_app(h), **options)
        return
    shared_database(settings)  # refuses SQLite in memory before any process starts
    Hutong.create(settings).close()  # the schema migrated once, here, not by N processes at once
    # the worker processes read their settings from the environment: the same issuer (stored in the home,
    # resolved above) and no embedded job consumer (the queue's work goes to `hutong worker`)
    os.environ["HUTONG_DISTRIBUTION_IN_SERVE"] = "false"
    os.environ["HUTONG_SERVE_LOG_LEVEL"] = log_level
    out.print(
        f"hutong serving {settings.issuer} with {workers} processes (data in {settings.home}); "
        "publishing jobs run in `hutong worker`",
        highlight=False,
    )
    uvicorn.run("hutong.api.app:from_environment", factory=True, workers=workers, **options)


def platform_of(h):
    """The platform's services over the database of ``h`` (staff commands talk to them directly)."""
    return h.platform


@platform_app.command("appeals")
def appeals(as_json: JsonOpt = False) -> None:
    """Open appeals against review decisions."""
    with service() as h:
        rows = platform_of(h).developers.open_appeals()
    if as_json:
        emit_json({"appeals": [{"developer": d, "decision": x.as_dict()} for d, x in rows]})
        return
    for d, x in rows:
        out.print(
            f"decision {x.id} ({x.rule}, {x.outcome}) for developer {d['id']} {d['display_name']}: {x.reason}",
            highlight=False,
        )


@platform_app.command("resolve")
def resolve(
    decision_id: Annotated[int, IdArg("The review decision appealed against.")],
    overturn: Annotated[bool, typer.Option("--overturn/--uphold", help="Overturn or uphold the decision.")],
    note: Annotated[str, typer.Option(help="Why (the applicant sees it).")],
    staff: Annotated[str, typer.Option(help="Who decides.")] = "staff",
) -> None:
    """Decide an appeal."""
    with service() as h:
        x = platform_of(h).developers.resolve_appeal(decision_id, overturn=overturn, note=note, staff=staff)
    out.print(f"decision {x.id}: appeal {x.appeal_status}", highlight=False)


@platform_app.command("review")
def review(
    developer_id: Annotated[int, IdArg("The developer waiting for review.")],
    approve: Annotated[bool, typer.Option("--approve/--reject")],
    note: Annotated[str, typer.Option(help="Why (the applicant sees it).")],
    staff: Annotated[str, typer.Option(help="Who decides.")] = "staff",
) -> None:
    """Decide a developer waiting for manual review."""
    with service() as h:
        d = platform_of(h).developers.decide_pending(developer_id, approve=approve, note=note, staff=staff)
    out.print(f"developer {d['id']}: {d['status']}", highlight=False)


@platform_app.command("rotate-data-key")
def rotate_data_key() -> None:
    """New encryption key for personal data; re-encrypts every stored record with it."""
    with service() as h:
        p = platform_of(h)
        kid = p.vault.rotate()
        n = p.developers.reencrypt()
    out.print(f"data key {kid} active; {n} record(s) re-encrypted", highlight=False)


@platform_app.command("purge")
def purge() -> None:
    """Delete legal-representative data that the review policy says is due for deletion."""
    with service() as h:
        n = platform_of(h).developers.purge_due()
    out.print(f"{n} developer record(s) purged of legal-representative data", highlight=False)


Reason = Annotated[str, typer.Option(help="Why (the developer sees it).")]
Staff = Annotated[str, typer.Option(help="Who decides.")]


def _app_status(client_id: str, *, suspend: bool, reason: str, staff: str) -> None:
    with service() as h:
        apps = platform_of(h).apps
        a = (apps.suspend if suspend else apps.unsuspend)(client_id, reason=reason, staff=staff)
    out.print(f"app {a['client_id']} ({a['name']}): {a['status']}", highlight=False)


@platform_app.command("suspend")
def suspend(client_id: str, reason: Reason, staff: Staff = "staff") -> None:
    """Suspend an app: its tokens stop working everywhere and it gets no new ones until unsuspended."""
    _app_status(client_id, suspend=True, reason=reason, staff=staff)


@platform_app.command("unsuspend")
def unsuspend(client_id: str, reason: Reason, staff: Staff = "staff") -> None:
    """Reinstate a suspended app: the tokens it still holds work again."""
    _app_status(client_id, suspend=False, reason=reason, staff=staff)


roles_app = typer.Typer(help="Console roles: who speaks for a rights holder, acts as a creator, reviews.")
platform_app.add_typer(roles_app, name="roles")
HolderOpt = Annotated[
    list[str] | None, typer.Option("--holder", help="The rights holder's name (as on works).")
]
CreatorOpt = Annotated[list[str] | None, typer.Option("--creator", help="A creator handle.")]


def _print_membership(username: str, m, as_json: bool) -> None:
    view = {"username": username, "roles": list(m.roles), "holders": list(m.holders),
            "creators": list(m.creators), "staff": m.staff, "developer": m.developer}  # fmt: skip
    if as_json:
        emit_json(view)
        return
    parts = [f"holder {h!r}" for h in m.holders] + [f"creator @{c}" for c in m.creators]
    parts += ["staff (reviewer)"] * m.staff + ["developer"] * m.developer
    out.print(f"{username}: {', '.join(parts) or 'no console role'}", highlight=False)


def _change_roles(
    username: str, holders, creators, staff: bool | None, *, grant: bool, as_json: bool
) -> None:
    if not holders and not creators and staff is None:
        raise typer.BadParameter(
            "name at least one role: --holder NAME, --creator HANDLE, --staff/--no-staff"
        )
    with service() as h:
        roles = platform_of(h).roles
        change = roles.grant if grant else roles.revoke
        m = None
        for name in holders or []:
            m = change(username, "holder", name)
        for handle in creators or []:
            m = change(username, "creator", handle)
        if staff is not None:
            m = roles.set_staff(username, staff if grant else False)
    _print_membership(username, m, as_json)


@roles_app.command("grant")
def roles_grant(
    username: str,
    holder: HolderOpt = None,
    creator: CreatorOpt = None,
    staff: Annotated[
        bool | None, typer.Option("--staff/--no-staff", help="Platform staff: reviews developers.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Let an account speak for rights holders, act as creators, or review as staff in the console."""
    _change_roles(username, holder, creator, staff, grant=True, as_json=as_json)


@roles_app.command("revoke")
def roles_revoke(
    username: str,
    holder: HolderOpt = None,
    creator: CreatorOpt = None,
    staff: Annotated[bool | None, typer.Option("--staff", help="Take the staff role away.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Take console roles away from an account."""
    _change_roles(username, holder, creator, staff, grant=False, as_json=as_json)


@roles_app.command("show")
def roles_show(username: str, as_json: JsonOpt = False) -> None:
    """The console roles of an account."""
    with service() as h:
        m = platform_of(h).roles.of_username(username)
    _print_membership(username, m, as_json)
