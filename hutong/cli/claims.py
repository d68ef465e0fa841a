"""``hutong titles|policies|claims|disputes|statements|exclusions``: title lists, match policies, claims,
disputes and appeals, revenue and statements, reference exclusions (docs/claims.md)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from hutong.cli.app import JsonOpt, app, emit_json, out, service
from hutong.cli.output import check_ids
from hutong.errors import HutongError

titles_app = typer.Typer(
    help="Title lists (片单): works licensed together, with an allowlist.", no_args_is_help=True
)
policies_app = typer.Typer(
    help="Match policies: track, monetise, block or review unlicensed use.", no_args_is_help=True
)
claims_app = typer.Typer(
    help="Claims on clips: evidence, review, release, fix and re-check.", no_args_is_help=True
)
disputes_app = typer.Typer(help="Disputes and appeals, with their deadlines.", no_args_is_help=True)
statements_app = typer.Typer(help="Revenue reports and statements (the ledger).", no_args_is_help=True)
exclusions_app = typer.Typer(
    help="Ranges of a work its holder does not own exclusively.", no_args_is_help=True
)
for _sub, _name in ((titles_app, "titles"), (policies_app, "policies"), (claims_app, "claims"),
                    (disputes_app, "disputes"), (statements_app, "statements"), (exclusions_app, "exclusions")):  # fmt: skip
    app.add_typer(_sub, name=_name)

HolderOpt = Annotated[str, typer.Option("--holder", help="The rights holder acting.")]
CreatorOpt = Annotated[str, typer.Option("--creator", help="The creator (handle) acting.")]
_TIME = r"(?:\d+:)?\d+(?::\d+)?(?:\.\d+)?"
_SEGMENT = re.compile(rf"^({_TIME})-({_TIME})@({_TIME})-({_TIME})$")


def seconds(text: str) -> float:
    """'75', '1:15', '0:01:15' or '75.5' → seconds."""
    parts = text.split(":")
    total = 0.0
    for p in parts:
        total = total * 60 + float(p)
    return total


def parse_segment(text: str) -> dict:
    m = _SEGMENT.match(text.strip())
    if not m:
        raise HutongError(
            f"segment {text!r}: write CLIP_FROM-CLIP_TO@WORK_FROM-WORK_TO, e.g. 0:03-0:15@1:40-1:52 (timestamps are mandatory)"
        )
    q0, q1, r0, r1 = (seconds(x) for x in m.groups())
    return {"query_start": q0, "query_end": q1, "ref_start": r0, "ref_end": r1}


def parse_month(text: str) -> tuple[datetime, datetime]:
    try:
        start = datetime.strptime(text.strip(), "%Y-%m").replace(tzinfo=UTC)
    except ValueError:
        raise HutongError(f"--month {text!r}: a month as YYYY-MM, e.g. 2026-12") from None
    end = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return start, end


def claims_table(rows: list[dict], title: str) -> None:
    if not rows:
        out.print(f"{title}: none", highlight=False)
        return
    t = Table("claim", "holder", "creator", "action", "status", "segments", "policy", title=title)
    for c in rows:
        segs = ", ".join(
            f"{s['query_start']:g}–{s['query_end']:g} s (work {s['work_id']})" for s in c["segments"]
        )
        t.add_row(
            c["code"], c["holder"], f"@{c['creator']}", c["action"], c["status"], segs, c["policy"] or "-"
        )
    out.print(t)


def show_claim(c: dict) -> None:
    out.print(f"[bold]{c['code']}[/] {c['status']} — {c['action']} for {c['holder']} on @{c['creator']}'s clip "
              f"{c['clip_sha256'][:12]}…", highlight=False)  # fmt: skip
    out.print(f"rule: {c['rule']} ({c['policy'] or 'no policy'})", highlight=False)
    for f in c["fix"]:
        out.print(f"to fix: {f['text']}", highlight=False)
    if c.get("dispute"):
        d = c["dispute"]
        out.print(f"dispute: {d['reason']} — {d['state']}, next deadline {d['due_at'][:10]}", highlight=False)
    for e in c.get("events", []):
        out.print(f"  {e['at'][:19]}  {e['actor']}: {e['action']} {e['note']}", highlight=False)


# -- title lists ------------------------------------------------------------------------------------


@titles_app.command("set")
def titles_set(
    holder: Annotated[str, typer.Argument(help="The rights holder.")],
    name: Annotated[str, typer.Argument(help="The list's name.")],
    work: Annotated[
        list[int], typer.Option("--work", help="A work in the list (repeat).", callback=check_ids)
    ],
    creator: Annotated[
        list[str] | None, typer.Option("--creator", help="A creator on the allowlist (repeat).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create or replace a title list; licences granted over it are amended to match."""
    with service() as h:
        rec = h.title_lists.set(holder, name, work, creator or [])
        amended = h.title_lists.granted_over(holder, name)
    if as_json:
        emit_json({**rec.as_dict(), "licences": amended})
    else:
        out.print(f"title list {rec.name!r} of {rec.holder}: works {rec.works}, allowlist "
                  f"{', '.join('@' + c for c in rec.creators) or 'none'}", highlight=False)  # fmt: skip


@titles_app.command("list")
def titles_list(
    holder: Annotated[str, typer.Option(help="Only this holder's.")] = "", as_json: JsonOpt = False
) -> None:
    with service() as h:
        rows = [r.as_dict() for r in h.title_lists.list(holder or None)]
    if as_json:
        emit_json({"title_lists": rows})
    else:
        for r in rows:
            out.print(
                f"{r['holder']} / {r['name']}: works {r['works']}, allowlist {r['creators']}", highlight=False
            )


# -- policies ---------------------------------------------------------------------------------------


@policies_app.command("set")
def policies_set(
    holder: Annotated[str, typer.Argument(help="The rights holder.")],
    rules: Annotated[Path | None, typer.Option(help="The policy document (JSON or TOML).")] = None,
    default: Annotated[
        str | None, typer.Option(help="Only a default action: track, monetise, block, review.")
    ] = None,
    work: Annotated[int | None, typer.Option(help="For this work only.", callback=check_ids)] = None,
    title_list: Annotated[str | None, typer.Option(help="For this title list only.")] = None,
    reason: Annotated[str, typer.Option(help="Why (kept in the history).")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Set the holder's policy (for all its works, a title list or a work); setting it again makes a new version."""
    from hutong.claims import PolicyRules

    if (rules is None) == (default is None):
        raise HutongError("give the policy as --rules FILE or as --default ACTION")
    doc = PolicyRules.load(rules) if rules else PolicyRules.parse({"default": default})
    with service() as h:
        rec = h.policies.set(holder, doc, work=work, title_list=title_list, reason=reason)
    if as_json:
        emit_json(rec.as_dict())
    else:
        out.print(f"policy {rec.ref} for {rec.holder} ({rec.scope} {rec.target}): {len(doc.rules)} rules, "
                  f"default {doc.default}", highlight=False)  # fmt: skip


@policies_app.command("list")
def policies_list(
    holder: Annotated[str, typer.Option(help="Only this holder's.")] = "", as_json: JsonOpt = False
) -> None:
    with service() as h:
        rows = [p.as_dict() for p in h.policies.list(holder or None)]
    if as_json:
        emit_json({"policies": rows})
    else:
        for p in rows:
            out.print(f"{p['ref']} {p['holder']} {p['scope']} {p['target']}: default {p['rules']['default']}, "
                      f"{len(p['rules']['rules'])} rules", highlight=False)  # fmt: skip


@policies_app.command("show")
def policies_show(code: str, as_json: JsonOpt = False) -> None:
    with service() as h:
        p = h.policies.get(code)
    if as_json:
        emit_json(p.as_dict())
    else:
        out.print(f"{p.ref} {p.holder} {p.scope} {p.target}", highlight=False)
        for i, r in enumerate(p.rules.rules, 1):
            out.print(f"  rule {i}: {r.action} when {r.when.describe()}", highlight=False)
        out.print(
            f"  default: {p.rules.default}; minimum match {p.rules.min_match_seconds:g} s", highlight=False
        )


@policies_app.command("history")
def policies_history(code: str, as_json: JsonOpt = False) -> None:
    with service() as h:
        rows = h.policies.history(code)
    if as_json:
        emit_json({"code": code.upper(), "history": rows})
    else:
        for e in rows:
            out.print(f"v{e['version']} {e['action']} {e['at'][:19]} {e['reason']}", highlight=False)


# -- claims -----------------------------------------------------------------------------------------


@claims_app.command("scan")
def claims_scan(
    clip: Path,
    creator: CreatorOpt,
    platform: Annotated[str, typer.Option(help="Platform the clip is published on.")],
    territory: Annotated[str, typer.Option(help="Where it is published (ISO 3166, e.g. CN).")] = "",
    post: Annotated[str, typer.Option(help="The post on this platform, when there is one.")] = "",
    use_form: Annotated[str | None, typer.Option(help="commentary, mashup, clip-cutting or talk.")] = None,
    source_tag: Annotated[str, typer.Option(help="The clip's source tag.")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Check CLIP and claim what no licence covers, as each holder's policy says."""
    from hutong.claims import ClipUse

    with service() as h:
        result = h.compliance.check(clip, creator, platform, use_form=use_form, source_tag=source_tag)
        made = h.claims.record(ClipUse.of_check(result, territory=territory, post_id=post))
    shown = [c for c in made if c["status"] != "tracked"]
    if as_json:
        emit_json({"clip_sha256": result.sha256, "compliant": result.decision.compliant, "claims": made})
    else:
        out.print(result.decision.summary(), highlight=False)
        claims_table(shown, f"claims on {clip.name}")


@claims_app.command("add")
def claims_add(
    holder: Annotated[str, typer.Argument(help="The rights holder claiming.")],
    creator: CreatorOpt,
    work: Annotated[int, typer.Option(help="The work used.", callback=check_ids)],
    segment: Annotated[list[str], typer.Option(help="CLIP_FROM-CLIP_TO@WORK_FROM-WORK_TO (repeat).")],
    clip: Annotated[Path | None, typer.Option(help="The clip file.")] = None,
    sha256: Annotated[str, typer.Option(help="Or the clip's SHA-256.")] = "",
    action: Annotated[str, typer.Option(help="monetise, block or review.")] = "block",
    platform: Annotated[str, typer.Option(help="Where the clip is published.")] = "",
    post: Annotated[str, typer.Option(help="The post on this platform.")] = "",
    note: Annotated[str, typer.Option(help="Evidence in words.")] = "",
    as_json: JsonOpt = False,
) -> None:
    """A manual claim by a holder: every segment with its times in the clip and in the work."""
    from hutong.media import probe, sha256_file

    duration = 0.0
    if clip is not None:
        sha256, duration = sha256_file(clip), probe(clip).duration
    if not sha256:
        raise HutongError("name the clip (--clip FILE or --sha256 HEX)")
    with service() as h:
        c = h.claims.manual(holder, creator=creator, clip_sha256=sha256, work_id=work, action=action,
                            segments=[parse_segment(s) for s in segment], platform=platform, post_id=post,
                            clip_duration=duration, note=note)  # fmt: skip
    emit_json(c) if as_json else show_claim(c)


@claims_app.command("list")
def claims_list(
    holder: Annotated[str, typer.Option(help="Only this holder's.")] = "",
    creator: Annotated[str, typer.Option(help="Only on this creator's clips.")] = "",
    status: Annotated[str, typer.Option(help="Only in this state.")] = "",
    tracked: Annotated[bool, typer.Option("--tracked", help="Include tracked uses.")] = False,
    as_json: JsonOpt = False,
) -> None:
    with service() as h:
        rows = h.claims.list(holder=holder or None, creator=creator or None, status=status or None,
                             include_tracked=tracked)  # fmt: skip
    emit_json({"claims": rows}) if as_json else claims_table(rows, "claims")


@claims_app.command("show")
def claims_show(code: str, as_json: JsonOpt = False) -> None:
    """A claim with its evidence, what to fix, its dispute and every step (what both sides see)."""
    with service() as h:
        c = h.claims.get(code)
    emit_json(c) if as_json else show_claim(c)


@claims_app.command("queue")
def claims_queue(holder: str, as_json: JsonOpt = False) -> None:
    """The holder's review queue (unreviewed claims are released after 30 days)."""
    with service() as h:
        rows = h.claims.queue(holder)
    emit_json({"claims": rows}) if as_json else claims_table(rows, f"{holder}: to review")


@claims_app.command("review")
def claims_review(
    code: str,
    holder: HolderOpt,
    decision: Annotated[str, typer.Option(help="monetise, block, release or not-a-copy.")],
    note: Annotated[str, typer.Option(help="Shown to the creator.")] = "",
    as_json: JsonOpt = False,
) -> None:
    with service() as h:
        c = h.claims.review(code, holder, decision, note)
    emit_json(c) if as_json else show_claim(c)


@claims_app.command("release")
def claims_release(
    code: str,
    holder: HolderOpt,
    reason: Annotated[str, typer.Option(help="Shown to the creator.")],
    as_json: JsonOpt = False,
) -> None:
    with service() as h:
        c = h.claims.release(code, holder, reason)
    emit_json(c) if as_json else show_claim(c)


@claims_app.command("recheck")
def claims_recheck(
    code: str,
    fixed: Annotated[Path, typer.Argument(help="The fixed clip.")],
    creator: CreatorOpt,
    certificate: Annotated[
        Path | None, typer.Option(help="If the fixed clip is compliant, certify it here.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check the creator's fixed clip again: the claim is released when the claimed segments are gone."""
    from hutong.claims import ClipUse

    with service() as h:
        claim = h.claims.get(code)
        result = h.compliance.check(fixed, creator, claim["platform"] or "*")
        c = h.claims.recheck(code, creator, ClipUse.of_check(result))
        issued = None
        if certificate and c["fixed"] and result.decision.compliant:
            issued = h.compliance.certify(result)
            certificate.write_text(issued.token + "\n")
    if as_json:
        emit_json({**c, "certificate": issued.claims["jti"] if issued else None})
    else:
        show_claim(c)
        if issued:
            out.print(f"certificate {issued.claims['jti']} written to {certificate}", highlight=False)


@claims_app.command("redecide")
def claims_redecide(holder: str, as_json: JsonOpt = False) -> None:
    """After a policy change: decide every open claim of the holder again from its stored matches."""
    with service() as h:
        done = h.claims.redecide(holder)
    emit_json(done) if as_json else out.print(f"{done['changed']} changed, {done['unchanged']} unchanged")


@claims_app.command("accuracy")
def claims_accuracy(as_json: JsonOpt = False) -> None:
    """For platform staff: per holder, claims disputed and the share of those released."""
    with service() as h:
        rows = h.claims.accuracy()
    if as_json:
        emit_json({"holders": rows})
    else:
        for r in rows:
            out.print(f"{r['holder']}: {r['disputed']} of {r['claims']} disputed, {r['released_share']:.0%} released",
                      highlight=False)  # fmt: skip


# -- disputes ---------------------------------------------------------------------------------------


@disputes_app.command("open")
def disputes_open(
    code: str,
    creator: CreatorOpt,
    reason: Annotated[
        str, typer.Option(help="licence, fair-use, public-domain, own-footage or not-a-match.")
    ],
    text: Annotated[str, typer.Option(help="In your words.")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Dispute a claim on your clip (within 30 days); the holder answers within 30 days or it is released."""
    with service() as h:
        c = h.disputes.open(code, creator, reason, text)
    emit_json(c) if as_json else show_claim(c)


@disputes_app.command("answer")
def disputes_answer(
    code: str,
    holder: HolderOpt,
    decision: Annotated[
        str, typer.Option(help="reinstate or release (a dispute); uphold or release (an appeal).")
    ],
    note: Annotated[str, typer.Option(help="Shown to the creator.")] = "",
    as_json: JsonOpt = False,
) -> None:
    with service() as h:
        c = h.disputes.answer(code, holder, decision, note)
    emit_json(c) if as_json else show_claim(c)


@disputes_app.command("appeal")
def disputes_appeal(
    code: str, creator: CreatorOpt, text: Annotated[str, typer.Option(help="Why.")], as_json: JsonOpt = False
) -> None:
    """Appeal a reinstated claim (within 7 days); the holder answers within 7 days or it is released."""
    with service() as h:
        c = h.disputes.appeal(code, creator, text)
    emit_json(c) if as_json else show_claim(c)


@disputes_app.command("list")
def disputes_list(
    holder: Annotated[str, typer.Option(help="Only this holder's.")] = "",
    creator: Annotated[str, typer.Option(help="Only this creator's.")] = "",
    as_json: JsonOpt = False,
) -> None:
    with service() as h:
        rows = [c for c in h.claims.list(holder=holder or None, creator=creator or None) if c["dispute"]]
    emit_json({"claims": rows}) if as_json else claims_table(rows, "disputed claims")


@disputes_app.command("deadlines")
def disputes_deadlines(as_json: JsonOpt = False) -> None:
    """Apply every deadline that passed now (a worker runs this job on the queue every hour)."""
    with service() as h:
        done = h.disputes.run_deadlines()
    emit_json(done) if as_json else out.print(
        f"{done['released']} released, {done['upheld']} upheld, {done['expired']} unreviewed released"
    )


# -- statements -------------------------------------------------------------------------------------


@statements_app.command("revenue")
def statements_revenue(
    post: Annotated[str, typer.Argument(help="The post on this platform.")],
    amount_minor: Annotated[int, typer.Option(help="Revenue in minor units (fen, cents).")],
    currency: Annotated[str, typer.Option(help="ISO 4217 code, e.g. CNY.")],
    report_id: Annotated[str, typer.Option(help="The reporter's id of this report (idempotent).")],
    reporter: Annotated[str, typer.Option(help="Who reports (an app's client id).")] = "cli",
    as_json: JsonOpt = False,
) -> None:
    """Record a platform's revenue for a post (platforms use POST /api/claims/revenue)."""
    with service() as h:
        rep = h.ledger.report(reporter, report_id, post, amount_minor, currency)
    if as_json:
        emit_json(rep)
    else:
        for leg in rep["legs"]:
            out.print(f"{leg['account']}: {leg['amount_minor']:+d} {rep['currency']}", highlight=False)


@statements_app.command("show")
def statements_show(
    holder: Annotated[str, typer.Option(help="A holder's statement.")] = "",
    creator: Annotated[str, typer.Option(help="A creator's statement.")] = "",
    month: Annotated[str, typer.Option(help="YYYY-MM (default: everything).")] = "",
    csv_out: Annotated[Path | None, typer.Option("--csv", help="Also write the lines as CSV here.")] = None,
    as_json: JsonOpt = False,
) -> None:
    start, end = parse_month(month) if month else (None, None)
    with service() as h:
        st = h.ledger.statement(holder=holder or None, creator=creator or None, start=start, end=end)
        if csv_out:
            csv_out.write_text(h.ledger.csv(st), encoding="utf-8")
    if as_json:
        emit_json(st)
        return
    t = Table("at", "kind", "post", "claim", "amount", title=f"statement of {st['account']}")
    for line in st["lines"]:
        t.add_row(
            line["at"][:19],
            line["kind"],
            line["post_id"],
            line["claim"],
            f"{line['amount']} {line['currency']}",
        )
    out.print(t)
    out.print(
        "total: " + (", ".join(f"{v} {c}" for c, v in st["totals_text"].items()) or "nothing"),
        highlight=False,
    )
    if st["held"]:
        out.print(
            "held while disputed: " + ", ".join(f"{v} {c} (minor units)" for c, v in st["held"].items())
        )


# -- exclusions -------------------------------------------------------------------------------------


@exclusions_app.command("add")
def exclusions_add(
    holder: Annotated[str, typer.Argument(help="The rights holder.")],
    work: Annotated[int, typer.Option(help="The work.", callback=check_ids)],
    start: Annotated[str, typer.Option("--from", help="Start in the work (seconds or M:SS).")],
    end: Annotated[str, typer.Option("--to", help="End in the work.")],
    reason: Annotated[str, typer.Option(help="trailer, public domain, licensed-in…")],
    as_json: JsonOpt = False,
) -> None:
    """Exclude a range: no claims there, and claims standing only on it are released."""
    try:
        a, b = seconds(start), seconds(end)
    except ValueError:
        raise HutongError(f"--from/--to: seconds or M:SS, not {start!r}/{end!r}") from None
    with service() as h:
        done = h.claims.exclude(holder, work, a, b, reason)
    emit_json(done) if as_json else out.print(
        f"excluded {a:g}–{b:g} s of work {work}; released {', '.join(done['released']) or 'no claim'}",
        highlight=False,
    )


@exclusions_app.command("list")
def exclusions_list(
    holder: Annotated[str, typer.Option(help="Only this holder's.")] = "", as_json: JsonOpt = False
) -> None:
    with service() as h:
        rows = h.claims.exclusions(holder or None)
    if as_json:
        emit_json({"exclusions": rows})
    else:
        for e in rows:
            out.print(
                f"{e['holder']} work {e['work_id']}: {e['start']:g}–{e['end']:g} s ({e['reason']})",
                highlight=False,
            )


@exclusions_app.command("scan")
def exclusions_scan(
    work: Annotated[int, typer.Argument(help="A registered work.", callback=check_ids)],
    as_json: JsonOpt = False,
) -> None:
    """Recognise the work's own reference against the catalogue: another holder's work in it is an ownership
    conflict (both holders see it; neither range is claimed until it is resolved)."""
    with service() as h:
        found = next((w for w in h.catalogue.list() if w.work_id == work), None)
        if found is None:
            raise HutongError(f"no work {work} (see `hutong works list`)")
        rows = h.claims.scan_references(work, h.recognizer.match(Path(found.source_path)))
    emit_json({"conflicts": rows}) if as_json else out.print(f"{len(rows)} ownership conflict(s)")


@exclusions_app.command("conflicts")
def exclusions_conflicts(
    holder: Annotated[str, typer.Option(help="Only this holder's.")] = "", as_json: JsonOpt = False
) -> None:
    with service() as h:
        rows = h.claims.conflicts(holder or None)
    if as_json:
        emit_json({"conflicts": rows})
    else:
        for c in rows:
            out.print(f"#{c['id']} {c['status']}: work {c['work_a']} ({c['holder_a']}) {c['range_a']} ⇄ work "
                      f"{c['work_b']} ({c['holder_b']}) {c['range_b']} {c['owner']}", highlight=False)  # fmt: skip


@exclusions_app.command("resolve")
def exclusions_resolve(
    conflict: Annotated[int, typer.Argument(help="The conflict's number.", callback=check_ids)],
    owner: Annotated[str, typer.Option(help="The holder who owns the footage.")],
    note: Annotated[str, typer.Option(help="Why.")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Settle a conflict: the other holder's range becomes an exclusion (its claims there are released)."""
    with service() as h:
        done = h.claims.resolve(conflict, owner, note)
    emit_json(done) if as_json else out.print(f"conflict #{conflict} resolved for {owner}", highlight=False)


@exclusions_app.command("quarantined")
def exclusions_quarantined(as_json: JsonOpt = False) -> None:
    """References quarantined for claiming a large share of new clips (their claims are only tracked)."""
    with service() as h:
        rows = h.claims.quarantined()
    if as_json:
        emit_json({"quarantined": rows})
    else:
        for q in rows:
            out.print(
                f"work {q['work_id']}: {q['clips']} clips ({q['share']:.0%}) — {q['status']}", highlight=False
            )


@exclusions_app.command("lift")
def exclusions_lift(
    work: Annotated[int, typer.Argument(help="The quarantined work.", callback=check_ids)],
    holder: HolderOpt,
    as_json: JsonOpt = False,
) -> None:
    with service() as h:
        n = h.claims.lift(work, holder)
    emit_json({"work_id": work, "lifted": n}) if as_json else out.print(f"work {work}: quarantine lifted")
