"""``hutong interconnect``: whom this platform trusts, and how two platforms open to each other."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from hutong.cli.app import JsonOpt, app, emit_json, out, service
from hutong.cli.platform import platform_app, platform_of

ic_app = typer.Typer(help="Interconnection with other platforms.", no_args_is_help=True)
app.add_typer(ic_app, name="interconnect")


@ic_app.command("trust")
def trust(
    issuer: Annotated[str, typer.Argument(help="The other platform's issuer URL.")],
    jwks_url: Annotated[
        str | None, typer.Option(help="Its JWKS (default ISSUER/.well-known/jwks.json).")
    ] = None,
    note: Annotated[str, typer.Option(help="Why (an agreement, a date).")] = "",
) -> None:
    """Accept licence certificates issued by ISSUER for posts on this platform."""
    with service() as h:
        row = platform_of(h).directory.trust(issuer, jwks_url, note)
    out.print(f"now trusting certificates from {row['issuer']} (keys: {row['jwks_url']})", highlight=False)


@ic_app.command("distrust")
def distrust(issuer: str) -> None:
    """Stop accepting ISSUER's certificates."""
    with service() as h:
        platform_of(h).directory.distrust(issuer)
    out.print(f"no longer trusting {issuer}", highlight=False)


@ic_app.command("trusted")
def trusted(as_json: JsonOpt = False) -> None:
    """Trusted certificate issuers and identity providers."""
    with service() as h:
        p = platform_of(h)
        rows, idps = p.directory.trusted(), p.directory.idps()
    if as_json:
        emit_json({"certificate_issuers": rows, "identity_providers": idps})
        return
    for r in rows:
        out.print(f"certificates: {r['issuer']} ({r['jwks_url']}) {r['note']}", highlight=False)
    for i in idps:
        out.print(f"login: {i['name']} — {i['issuer']}", highlight=False)


@ic_app.command("idp")
def idp_add(
    issuer: Annotated[str, typer.Argument(help="The other platform's issuer URL.")],
    name: Annotated[str, typer.Option(help="Shown on the login page: 'Log in with NAME'.")],
    client_id: Annotated[str, typer.Option(help="This platform's client id registered there.")],
    client_secret: Annotated[str, typer.Option(help="Its client secret (stored encrypted).")],
) -> None:
    """Let users of ISSUER log in here with OpenID Connect (register this platform as an app there first,
    with redirect URI THIS_ISSUER/login/federated/callback and scopes openid profile)."""
    with service() as h:
        row = platform_of(h).directory.add_idp(issuer, name, client_id, client_secret)
    out.print(f"users of {row['issuer']} can now log in here ('Log in with {row['name']}')", highlight=False)


@ic_app.command("report")
def report(url_a: str, url_b: str, as_json: JsonOpt = False) -> None:
    """Compare two platforms' signed manifests: what A opens to B and what B opens to A."""
    import httpx

    from hutong.platform.interconnect import fetch_manifest, reciprocity

    with httpx.Client(timeout=10) as http:
        a, b = fetch_manifest(http, url_a), fetch_manifest(http, url_b)
    rows = reciprocity(a, b)
    if as_json:
        emit_json(
            {
                "a": a["issuer"],
                "b": b["issuer"],
                "capabilities": rows,
                "reciprocal": all(r["reciprocal"] for r in rows),
            }
        )
        return
    table = Table("capability", f"A → B  ({a['name']} → {b['name']})", f"B → A  ({b['name']} → {a['name']})", "reciprocal",
                  title=f"A = {a['issuer']}   B = {b['issuer']}")  # fmt: skip
    mark = {True: "[green]open[/]", False: "[red]closed[/]"}
    for r in rows:
        table.add_row(r["capability"], f"{mark[r['a_to_b']]}: {r['a_to_b_detail']}", f"{mark[r['b_to_a']]}: {r['b_to_a_detail']}",
                      "yes" if r["reciprocal"] else "[yellow]no[/]")  # fmt: skip
    out.print(table)


@platform_app.command("takedown")
def takedown(
    post_id: str, reason: Annotated[str, typer.Option(help="Why (sent to the app by webhook).")] = ""
) -> None:
    """Take a post down; its app is told by webhook."""
    with service() as h:
        p = platform_of(h)
        view = p.ingest.take_down(post_id, reason)
    out.print(f"post {view['post_id']}: taken down", highlight=False)


@platform_app.command("release")
def release(post_id: str, as_json: JsonOpt = False) -> None:
    """Publish a post held for this platform's own check; its app is told by webhook."""
    with service() as h:
        view = platform_of(h).ingest.release(post_id, publish=True)
    emit_json(view) if as_json else out.print(f"post {view['post_id']}: published", highlight=False)


@platform_app.command("reject")
def reject(
    post_id: str,
    reason: Annotated[str, typer.Option(help="Why (the app reads it, and so does the creator).")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Reject a post held for this platform's own check, saying why; its app is told by webhook."""
    with service() as h:
        view = platform_of(h).ingest.release(post_id, publish=False, reason=reason)
    emit_json(view) if as_json else out.print(f"post {view['post_id']}: rejected", highlight=False)


@platform_app.command("cleanup-uploads")
def cleanup_uploads() -> None:
    """Delete uploads never completed by their deadline, release completions a crash left behind, and remove
    files no upload or video accounts for."""
    with service() as h:
        n = platform_of(h).ingest.cleanup()
    out.print(f"{n} stale upload(s) or completion(s) cleaned", highlight=False)
