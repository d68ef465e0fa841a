"""Commands for creators, licences, checks and certificates."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from hutong.cli.app import JsonOpt, app, emit_json, err, out, print_report, service
from hutong.cli.output import check_ids
from hutong.errors import RightsError

if TYPE_CHECKING:  # the service layer is imported inside commands: `hutong --help` stays light
    from hutong.compliance.certificate import Verification
    from hutong.rights.licences import LicenceRecord
    from hutong.rights.terms import LicenceTerms

creators_app = typer.Typer(
    help="Creators who make 二创 (individuals and organisations).", no_args_is_help=True
)
licences_app = typer.Typer(help="Licences granting derivative use of works.", no_args_is_help=True)
cert_app = typer.Typer(help="Signed certificates that a clip is licensed.", no_args_is_help=True)
keys_app = typer.Typer(help="Signing keys.", no_args_is_help=True)
app.add_typer(creators_app, name="creators")
app.add_typer(licences_app, name="licences")
app.add_typer(cert_app, name="certificate")
app.add_typer(keys_app, name="keys")

VERDICT_STYLE = {"licensed": "green", "unlicensed": "red", "forbidden": "magenta"}


def parse_time(text: str | None, what: str) -> datetime | None:
    if text is None:
        return None
    try:
        t = datetime.fromisoformat(text.strip())
    except ValueError:
        raise RightsError(
            f"{what} {text!r} is not an ISO 8601 date or time (e.g. 2026-12-31 or 2026-12-31T18:00+08:00)"
        ) from None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t


# -- creators ------------------------------------------------------------------------------------


@creators_app.command("add")
def creators_add(
    handle: str,
    name: Annotated[str, typer.Option(help="Display name (default: the handle).")] = "",
    organisation: Annotated[
        bool, typer.Option("--organisation", help="An organisation, not a person.")
    ] = False,
    member_of: Annotated[
        str | None, typer.Option(help="Handle of the organisation this creator belongs to.")
    ] = None,
    verified: Annotated[bool, typer.Option(help="Identity already verified.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Register a creator."""
    with service() as h:
        c = h.creators.add(
            handle, name=name, kind="organisation" if organisation else "individual", organisation=member_of,
            verified=verified,
        )  # fmt: skip
    if as_json:
        emit_json(c.as_dict())
    else:
        out.print(f"added {c.kind} @{c.handle}{' (verified)' if c.verified else ''}", highlight=False)


@creators_app.command("verify")
def creators_verify(
    handle: str, undo: Annotated[bool, typer.Option(help="Mark as not verified.")] = False
) -> None:
    """Mark a creator as verified (licences for 'any verified creator' then reach them)."""
    with service() as h:
        c = h.creators.set_verified(handle, not undo)
    out.print(f"@{c.handle}: {'verified' if c.verified else 'not verified'}", highlight=False)


@creators_app.command("link")
def creators_link(
    handle: str,
    username: Annotated[
        str | None, typer.Argument(help="The platform account (user name) they sign in as.")
    ] = None,
    unlink: Annotated[bool, typer.Option(help="Remove the link.")] = False,
) -> None:
    """Link a creator to the platform account they sign in as: over HTTP that user then publishes only the
    clips certified to this creator (an organisation: to its members too)."""
    if not unlink and not username:
        raise RightsError("name the platform account (user name) to link, or give --unlink")
    with service() as h:
        c = h.creators.link(handle, None if unlink else username)
    out.print(f"@{c.handle}: " + ("not linked" if unlink else f"signs in as {username}"), highlight=False)


@creators_app.command("list")
def creators_list(as_json: JsonOpt = False) -> None:
    """List creators."""
    with service() as h:
        cs = h.creators.list()
    if as_json:
        emit_json({"creators": [c.as_dict() for c in cs]})
        return
    table = Table("handle", "name", "kind", "member of", "verified")
    for c in cs:
        table.add_row(
            f"@{c.handle}",
            c.name,
            c.kind,
            f"@{c.organisation}" if c.organisation else "",
            "yes" if c.verified else "no",
        )
    out.print(table)


# -- licences ------------------------------------------------------------------------------------


def _terms_from_flags(base: dict, **flags) -> LicenceTerms:
    from hutong.rights.terms import LicenceTerms, parse_range
    from hutong.store import utcnow

    t = dict(base)
    if flags["works"]:
        t["works"] = flags["works"]
    if flags["creators"]:
        t["scope"] = {"kind": "creators", "creators": flags["creators"]}
    elif flags["organisation"]:
        t["scope"] = {"kind": "organisation", "organisation": flags["organisation"]}
    elif flags["verified"] or "scope" not in t:
        t["scope"] = {"kind": "verified"}
    if flags["platforms"]:
        t["platforms"] = flags["platforms"]
    for key in ("valid_from", "valid_until"):
        if flags[key] is not None:
            t[key] = flags[key]
    t.setdefault("valid_from", utcnow().isoformat())
    for key in ("max_segment_seconds", "max_total_seconds", "max_share", "attribution", "monetisation"):
        if flags[key] is not None:
            t[key] = flags[key]
    if flags["forbid"] or flags["embargo"]:
        t["forbidden"] = [parse_range(f, embargo=False) for f in flags["forbid"]] + [
            parse_range(e, embargo=True) for e in flags["embargo"]
        ]
    missing = [k for k in ("works", "platforms", "valid_until") if k not in t]
    if missing:
        raise RightsError(
            f"missing {', '.join('--' + k.replace('_', '-').removesuffix('s') for k in missing)} (or give --terms FILE)"
        )
    return LicenceTerms.parse(t)


TermsFile = Annotated[Path | None, typer.Option("--terms", help="Licence terms as a JSON or TOML file.")]
WorkOpt = Annotated[
    list[int] | None, typer.Option("--work", help="Work id (repeat for several).", callback=check_ids)
]
CreatorOpt = Annotated[list[str] | None, typer.Option("--creator", help="Named creator (repeat).")]
OrgOpt = Annotated[str | None, typer.Option("--organisation", help="Members of this organisation.")]
VerifiedOpt = Annotated[bool, typer.Option("--verified-creators", help="Any verified creator (default).")]
PlatformOpt = Annotated[
    list[str] | None, typer.Option("--platform", help="Target platform, or '*' (repeat).")
]
FromOpt = Annotated[str | None, typer.Option("--from", help="Valid from (ISO 8601; default now).")]
UntilOpt = Annotated[str | None, typer.Option("--until", help="Valid until (ISO 8601).")]
MaxSegOpt = Annotated[float | None, typer.Option("--max-segment", help="Seconds of the work per segment.")]
MaxTotalOpt = Annotated[float | None, typer.Option("--max-total", help="Seconds of each work per clip.")]
MaxShareOpt = Annotated[float | None, typer.Option("--max-share", help="Share (0-1] of a work per clip.")]
ForbidOpt = Annotated[list[str] | None, typer.Option("--forbid", help="'WORK START-END [LABEL]' (repeat).")]
EmbargoOpt = Annotated[
    list[str] | None, typer.Option("--embargo", help="'WORK START-END UNTIL [LABEL]' (repeat).")
]
AttribOpt = Annotated[str | None, typer.Option("--attribution", help="Credit the clip must carry.")]
MonetOpt = Annotated[
    bool | None, typer.Option("--monetisation/--no-monetisation", help="Monetised clips allowed.")
]


def _flags(**kw) -> dict:
    return {
        "works": kw["work"] or [], "creators": kw["creator"] or [], "organisation": kw["organisation"],
        "verified": kw["verified_creators"], "platforms": kw["platform"] or [],
        "valid_from": parse_time(kw["valid_from"], "--from") and kw["valid_from"],
        "valid_until": parse_time(kw["until"], "--until") and kw["until"],
        "max_segment_seconds": kw["max_segment"], "max_total_seconds": kw["max_total"], "max_share": kw["max_share"],
        "forbid": kw["forbid"] or [], "embargo": kw["embargo"] or [], "attribution": kw["attribution"],
        "monetisation": kw["monetisation"],
    }  # fmt: skip


def show_licence(lic: LicenceRecord) -> None:
    t = lic.terms
    out.print(f"[bold]{lic.code}[/] v{lic.version} by {lic.holder} — {lic.status}", highlight=False)
    works = ", ".join(f"{i} 《{lic.work_titles.get(i, '?')}》" for i in t.works)
    out.print(f"  works: {works}", highlight=False)
    out.print(f"  creators: {t.scope.describe()}; platforms: {', '.join(t.platforms)}", highlight=False)
    out.print(f"  valid {t.valid_from:%Y-%m-%d %H:%M} – {t.valid_until:%Y-%m-%d %H:%M} UTC", highlight=False)
    limits = [
        f"≤ {t.max_segment_seconds:g} s per segment" if t.max_segment_seconds else "",
        f"≤ {t.max_total_seconds:g} s per work per clip" if t.max_total_seconds else "",
        f"≤ {t.max_share:.0%} of a work per clip" if t.max_share else "",
        "monetisation allowed" if t.monetisation else "no monetisation",
    ]
    out.print(f"  limits: {'; '.join(x for x in limits if x)}", highlight=False)
    for r in t.forbidden:
        kind = f"embargoed until {r.until:%Y-%m-%d}" if r.until else "forbidden"
        out.print(f"  {kind}: {r.describe(lic.work_titles.get(r.work_id, '?'))}", highlight=False)
    if t.attribution:
        out.print(f"  attribution: {t.attribution}", highlight=False)
    if lic.status == "revoked":
        out.print(f"  revoked {lic.revoked_at:%Y-%m-%d}: {lic.revoke_reason}", highlight=False)


@licences_app.command("grant")
def licences_grant(
    holder: Annotated[str, typer.Option(help="The rights holder granting it (must hold the works).")],
    terms: TermsFile = None, work: WorkOpt = None, creator: CreatorOpt = None, organisation: OrgOpt = None,
    verified_creators: VerifiedOpt = False, platform: PlatformOpt = None, valid_from: FromOpt = None,
    until: UntilOpt = None, max_segment: MaxSegOpt = None, max_total: MaxTotalOpt = None,
    max_share: MaxShareOpt = None, forbid: ForbidOpt = None, embargo: EmbargoOpt = None,
    attribution: AttribOpt = None, monetisation: MonetOpt = None,
    allow_overlap: Annotated[bool, typer.Option(help="Keep an overlapping licence of the same holder.")] = False,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Grant a licence (from --terms FILE, or from the options)."""
    flags = _flags(**locals())
    from hutong.rights.terms import LicenceTerms

    t = LicenceTerms.load(terms) if terms else _terms_from_flags({}, **flags)
    with service() as h:
        lic = h.licences.grant(holder, t, allow_overlap=allow_overlap)
    if as_json:
        emit_json(lic.as_dict())
    else:
        out.print("[green]granted[/]", highlight=False)
        show_licence(lic)


@licences_app.command("amend")
def licences_amend(
    code: str,
    reason: Annotated[str, typer.Option(help="Why (kept in the licence's history).")] = "",
    terms: TermsFile = None, work: WorkOpt = None, creator: CreatorOpt = None, organisation: OrgOpt = None,
    verified_creators: VerifiedOpt = False, platform: PlatformOpt = None, valid_from: FromOpt = None,
    until: UntilOpt = None, max_segment: MaxSegOpt = None, max_total: MaxTotalOpt = None,
    max_share: MaxShareOpt = None, forbid: ForbidOpt = None, embargo: EmbargoOpt = None,
    attribution: AttribOpt = None, monetisation: MonetOpt = None,
    allow_overlap: Annotated[bool, typer.Option(help="Keep an overlapping licence of the same holder.")] = False,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Amend a licence: a new version (options change only what they name; --terms replaces all)."""
    flags = _flags(**locals())
    from hutong.rights.terms import LicenceTerms

    with service() as h:
        current = h.licences.get(code)
        t = LicenceTerms.load(terms) if terms else _terms_from_flags(current.terms.to_json(), **flags)
        lic = h.licences.amend(code, t, reason=reason, allow_overlap=allow_overlap)
    if as_json:
        emit_json(lic.as_dict())
    else:
        out.print(f"[green]amended[/] to version {lic.version}", highlight=False)
        show_licence(lic)


@licences_app.command("revoke")
def licences_revoke(
    code: str,
    reason: Annotated[str, typer.Option(help="Why (shown to creators and platforms).")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Revoke a licence, and every certificate that rests on it."""
    with service() as h:
        lic, n = h.licences.revoke(code, reason=reason)
        posts = h.distribution.jobs.take_down_revoked()  # posts made under it: taken down by the worker
    if as_json:
        emit_json({"licence": lic.as_dict(), "certificates_revoked": n, "take_down_jobs": posts})
    else:
        out.print(
            f"revoked {lic.code}; {n} certificate{'s' if n != 1 else ''} revoked with it", highlight=False
        )
        if posts:
            out.print(f"{len(posts)} published post(s) to take down: `hutong jobs list --state take_down`",
                      highlight=False)  # fmt: skip


@licences_app.command("list")
def licences_list(as_json: JsonOpt = False) -> None:
    """List licences."""
    with service() as h:
        lics = h.licences.list()
    if as_json:
        emit_json({"licences": [x.as_dict() for x in lics]})
        return
    table = Table("code", "v", "status", "holder", "works", "creators", "platforms", "valid until")
    for x in lics:
        table.add_row(
            x.code, str(x.version), x.status, x.holder, ", ".join(map(str, x.terms.works)), x.terms.scope.describe(),
            ", ".join(x.terms.platforms), f"{x.terms.valid_until:%Y-%m-%d}",
        )  # fmt: skip
    out.print(table)


@licences_app.command("show")
def licences_show(code: str, as_json: JsonOpt = False) -> None:
    """Show a licence's current terms."""
    with service() as h:
        lic = h.licences.get(code)
    emit_json(lic.as_dict()) if as_json else show_licence(lic)


@licences_app.command("history")
def licences_history(code: str, as_json: JsonOpt = False) -> None:
    """Every version of a licence: created, amended, revoked."""
    with service() as h:
        events = h.licences.history(code)
    if as_json:
        emit_json({"code": code.upper(), "events": [e.as_dict() for e in events]})
        return
    for e in events:
        out.print(f"v{e.version} {e.action} {e.at:%Y-%m-%d %H:%M:%S} UTC {e.reason}", highlight=False)


# -- check ---------------------------------------------------------------------------------------


@app.command("check")
def check(
    clip: Path,
    creator: Annotated[str, typer.Option(help="Handle of the creator publishing the clip.")],
    platform: Annotated[str, typer.Option(help="Platform the clip is published on.")],
    monetised: Annotated[bool, typer.Option(help="The clip will be monetised.")] = False,
    at: Annotated[str | None, typer.Option(help="Decide as of this time (ISO 8601; default now).")] = None,
    timeline: Annotated[Path | None, typer.Option(help="Write the timeline picture (SVG) here.")] = None,
    evidence: Annotated[
        Path | None, typer.Option(help="Write the evidence sheet (HTML) for unlicensed use here.")
    ] = None,
    certificate: Annotated[
        Path | None, typer.Option(help="If compliant, write the signed certificate here.")
    ] = None,
    c2pa: Annotated[
        Path | None,
        typer.Option("--c2pa", help="If compliant, write a copy with the certificate in a C2PA manifest."),
    ] = None,
    use_form: Annotated[
        str | None, typer.Option(help="The clip's form: commentary, mashup, clip-cutting or talk.")
    ] = None,
    source_tag: Annotated[str, typer.Option(help="The clip's source tag (names the work it uses).")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Is CLIP licensed for CREATOR on PLATFORM? Per segment: licensed, unlicensed or forbidden, and why."""
    from hutong.compliance import c2pa_manifest
    from hutong.compliance.report import evidence_html, timeline_svg

    when = parse_time(at, "--at")
    with service() as h:
        result = h.compliance.check(
            clip, creator, platform, monetised=monetised, at=when, use_form=use_form, source_tag=source_tag
        )
        issued = None
        if (certificate or c2pa) and result.decision.compliant:
            issued = h.compliance.certify(result)
            if certificate:
                certificate.write_text(issued.token + "\n")
            if c2pa:
                c2pa_manifest.embed(
                    clip, issued.token, c2pa, keys_dir=h.settings.keys_dir / "c2pa", issuer=h.settings.issuer
                )
        if timeline:
            timeline.write_text(timeline_svg(result, h.db), encoding="utf-8")
        if evidence:
            evidence.write_text(evidence_html(result, h.db, issuer=h.settings.issuer), encoding="utf-8")
    d = result.decision
    if as_json:
        emit_json({**result.as_dict(), "certificate": issued.as_dict() if issued else None})
    else:
        print_report(result.report)
        for s in d.segments:
            out.print(f"  [{VERDICT_STYLE[s.verdict]}]{s.verdict:>10}[/] {s.reason}", highlight=False)
        style = "green" if d.compliant and d.segments else ("yellow" if not d.segments else "red")
        out.print(f"[bold {style}]{d.summary()}[/]", highlight=False)
        for ref, text in d.attribution.items():
            out.print(f"  attribution required by {ref}: {text}", highlight=False)
        if issued:
            out.print(
                f"certificate {issued.claims['jti']} (valid until {datetime.fromtimestamp(issued.claims['exp'], UTC):%Y-%m-%d}) → {certificate or c2pa}",
                highlight=False,
            )
        for path in (timeline, evidence, c2pa if issued else None):
            if path:
                out.print(f"wrote {path}", highlight=False)
    if (certificate or c2pa) and not issued and not as_json:
        err.print(
            "no certificate: the clip is not compliant"
            if d.segments
            else "no certificate: nothing to certify"
        )
    if not d.compliant:
        raise typer.Exit(1)


# -- certificates --------------------------------------------------------------------------------


def print_verification(v: Verification, as_json: bool) -> None:
    if as_json:
        emit_json(v.as_dict())
        return
    colour = "green" if v.valid else "red"
    out.print(f"[bold {colour}]{v.code}[/]: {v.reason}", highlight=False)
    for n in v.notes:
        out.print(f"  note: {n}", highlight=False)


@cert_app.command("verify")
def cert_verify(
    clip: Annotated[Path, typer.Argument(help="The clip (or its C2PA copy) to check.")],
    cert: Annotated[
        Path | None, typer.Argument(help="Certificate file; omitted: read it from the clip's C2PA manifest.")
    ] = None,
    jwks: Annotated[
        Path | None, typer.Option(help="The issuer's JWKS file (offline). Default: this instance's keys.")
    ] = None,
    status: Annotated[Path | None, typer.Option(help="A signed status document from the issuer.")] = None,
    at: Annotated[str | None, typer.Option(help="Verify as of this time (ISO 8601; default now).")] = None,
    recheck: Annotated[
        bool, typer.Option(help="If the bytes differ, recognise the clip with this instance's catalogue.")
    ] = False,
    c2pa_trust: Annotated[
        Path | None, typer.Option(help="PEM of C2PA trust anchors (the issuer's keys/c2pa/ca.pem).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Verify a certificate offline against the issuer's published keys; exit 0 only when valid."""
    from hutong.compliance import c2pa_manifest
    from hutong.compliance.certificate import (
        Verification,
        load_jwks,
        load_token,
        verify_certificate,
        verify_status,
    )
    from hutong.store import utcnow

    now = parse_time(at, "--at") or utcnow()
    notes: list[str] = []
    if cert is None:
        anchors = c2pa_trust.read_bytes() if c2pa_trust else None
        emb = c2pa_manifest.read(clip, trust_anchors=anchors)
        if emb.state == "Invalid" or emb.problems:
            v = Verification(
                "bad-signature", f"the C2PA manifest does not match this file: {'; '.join(emb.problems)}"
            )
            print_verification(v, as_json)
            raise typer.Exit(1)
        notes.append(f"certificate read from the C2PA manifest (C2PA: {emb.state}, signer {emb.signer})")
        token = emb.token
    else:
        token = load_token(cert)
    if jwks is None or recheck:
        with service() as h:
            keys = load_jwks(jwks) if jwks else h.compliance.jwks()
            status_claims = (
                verify_status(status.read_text().strip(), keys, now=now)
                if status
                else (None if jwks else h.compliance.status_claims())
            )
            if recheck:
                v = h.compliance.recheck(clip, token, now=now)
            else:
                v = verify_certificate(token, keys, now=now, clip=clip, status=status_claims)
    else:
        keys = load_jwks(jwks)
        status_claims = verify_status(status.read_text().strip(), keys, now=now) if status else None
        v = verify_certificate(token, keys, now=now, clip=clip, status=status_claims)
    v.notes = notes + v.notes
    print_verification(v, as_json)
    if not v.valid:
        raise typer.Exit(1)


@cert_app.command("embed")
def cert_embed(clip: Path, cert: Path, output: Path) -> None:
    """Write OUTPUT: CLIP with the certificate inside a signed C2PA manifest."""
    from hutong.compliance import c2pa_manifest
    from hutong.compliance.certificate import load_token

    token = load_token(cert)
    with service() as h:
        c2pa_manifest.embed(
            clip, token, output, keys_dir=h.settings.keys_dir / "c2pa", issuer=h.settings.issuer
        )
    out.print(f"wrote {output}", highlight=False)


@cert_app.command("jwks")
def cert_jwks() -> None:
    """Print this issuer's public keys (JWKS) — all a verifier needs, with a status document for revocations."""
    with service() as h:
        emit_json(h.compliance.jwks())


@cert_app.command("status")
def cert_status(
    jti: Annotated[
        str | None, typer.Argument(help="One certificate; omitted: the list of all revoked ones.")
    ] = None,
) -> None:
    """Print a signed status document (valid for a day)."""
    with service() as h:
        print(h.compliance.status_document(jti))


@cert_app.command("list")
def cert_list(as_json: JsonOpt = False) -> None:
    """Certificates this instance issued."""
    with service() as h:
        certs = h.compliance.list()
    rows = [
        {"id": c.id, "creator": c.creator, "clip_sha256": c.clip_sha256, "platforms": c.platforms,
         "issued_at": c.issued_at.isoformat(), "expires_at": c.expires_at.isoformat(), "status": c.status,
         "revoke_reason": c.revoke_reason}
        for c in certs
    ]  # fmt: skip
    if as_json:
        emit_json({"certificates": rows})
        return
    table = Table("id", "creator", "clip", "platforms", "expires", "status")
    for r in rows:
        table.add_row(
            r["id"],
            f"@{r['creator']}",
            r["clip_sha256"][:12],
            ", ".join(r["platforms"]),
            r["expires_at"][:10],
            r["status"],
        )
    out.print(table)


@cert_app.command("revoke")
def cert_revoke(jti: str, reason: Annotated[str, typer.Option(help="Why.")] = "") -> None:
    """Revoke one certificate."""
    with service() as h:
        c = h.compliance.revoke(jti, reason)
        posts = h.distribution.jobs.take_down_revoked()
    out.print(f"revoked certificate {c.id}", highlight=False)
    if posts:
        out.print(f"{len(posts)} published post(s) to take down: `hutong jobs list --state take_down`",
                  highlight=False)  # fmt: skip


@keys_app.command("rotate")
def keys_rotate(as_json: JsonOpt = False) -> None:
    """Start signing with a new key; old keys stay published so old certificates still verify."""
    with service() as h:
        kid = h.compliance.keyring.rotate()
        entries = h.compliance.keyring.entries()
    if as_json:
        emit_json({"active": kid, "keys": entries})
    else:
        out.print(
            f"now signing with key {kid}; {len(entries) - 1} earlier key(s) stay published", highlight=False
        )
