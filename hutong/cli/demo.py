"""``hutong demo``: the whole recognition flow on the shipped samples, in a throw-away home."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from rich.console import Console

from hutong.app import Hutong
from hutong.cli.output import emit_json, print_report
from hutong.config import get_settings, resolve_issuer
from hutong.errors import HutongError
from hutong.media import sha256_file
from hutong.media.synth import Piece, build_clip

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
WORKS = (
    ("bbb_30s.mp4", "Big Buck Bunny (00:30-01:00)", "Blender Foundation"),
    ("sintel_trailer.mp4", "Sintel (trailer)", "Blender Foundation"),
    ("tears_of_steel_battle.mp4", "Tears of Steel (battle)", "Blender Foundation"),
)


def can_speak() -> bool:
    """The voice-over edit speaks with espeak-ng; without it the demo leaves that one edit out."""
    return bool(shutil.which("espeak-ng") or shutil.which("espeak"))


def demo_pieces(voiceover: bool = True) -> list[Piece]:
    """A vertical 二创 montage: three works, re-framed, mirrored, sped up, graded, with unrelated filler."""
    cars, chaplin = SAMPLES / "cars_unregistered.mp4", SAMPLES / "chaplin_unregistered.mp4"
    sintel = ("vertical_blur", "mirror", "voiceover") if voiceover else ("vertical_blur", "mirror")
    return [
        Piece(SAMPLES / "sintel_trailer.mp4", 14.0, 8.0, sintel, seed=1),
        Piece(cars, 2.0, 3.0, from_work=False, seed=2),
        Piece(SAMPLES / "tears_of_steel_battle.mp4", 30.0, 10.0, ("speed", "overlay"), seed=3),
        Piece(chaplin, 1.0, 3.0, from_work=False, seed=4),
        Piece(SAMPLES / "bbb_30s.mp4", 8.0, 6.0, ("grade", "vertical_blur"), seed=5),
    ]


def run_demo(home: Path | None, *, as_json: bool, console: Console) -> dict:
    tmp = None
    if home is None:
        tmp = tempfile.TemporaryDirectory(prefix="hutong-demo-")
        home = Path(tmp.name)
    os.environ["HUTONG_HOME"] = str(home)
    from urllib.parse import urlsplit

    from hutong.api.background import free_port

    # the demo's two platforms: A (this home, whose issuer names a free loopback port on first use and
    # keeps it, so its certificates stay verifiable when the demo runs again) and B
    settings = resolve_issuer(
        get_settings(home=home, platform_name="platform-a"), first=f"http://127.0.0.1:{free_port()}"
    )
    a_port, b_port = urlsplit(settings.issuer).port, free_port()
    if a_port is None or urlsplit(settings.issuer).hostname != "127.0.0.1":
        raise HutongError(f"the demo runs platform A on loopback; {home} has issuer {settings.issuer}")
    h = Hutong.create(settings)
    say = (lambda *a, **k: None) if as_json else console.print
    voiceover = can_speak()
    try:
        if tmp is not None:
            say(
                f"[bold]hutong demo[/] — data in {home}, a temporary folder deleted when the demo ends "
                "(keep it with [bold]--home DIR[/])"
            )
        else:
            say(f"[bold]hutong demo[/] — data in {home}")
        if not voiceover:
            say("  note: espeak-ng is not installed, so the clip is built without its voice-over edit")
        t0 = time.perf_counter()
        ids = {}
        existing = {w.sha256: w for w in h.catalogue.list()}
        for name, title, holder in WORKS:
            digest = sha256_file(SAMPLES / name)
            if digest in existing:
                ids[name] = existing[digest].work_id
                continue
            w = h.catalogue.add_one(SAMPLES / name, title=title, holder=holder, check_duplicates=False)
            ids[name] = w.work_id
            say(f"  registered work {w.work_id}: {w.title} ({w.duration:.0f} s)", highlight=False)
        say(f"  catalogue ready in {time.perf_counter() - t0:.1f} s")
        clip_path = home / "derivative_clip.mp4"
        t0 = time.perf_counter()
        clip = build_clip(demo_pieces(voiceover), clip_path)
        say(
            f"  built a {clip.duration:.1f} s vertical 二创 montage in {time.perf_counter() - t0:.1f} s: {clip_path}"
        )
        for seg, params in zip(
            clip.truth,
            [p for p, pc in zip(clip.params, demo_pieces(voiceover), strict=True) if pc.from_work],
            strict=True,
        ):
            say(
                f"    truth: {seg.query_start:5.1f}–{seg.query_end:5.1f} s of the clip = {Path(seg.source).name} "
                f"{seg.ref_start:.1f}–{seg.ref_end:.1f} s, edits: {', '.join(params['edits'])}"
                + (f" (speed {params['speed']}x)" if "speed" in params else ""),
                highlight=False,
            )
        t0 = time.perf_counter()
        report = h.recognizer.match(clip_path)
        say(f"  recognised in {time.perf_counter() - t0:.2f} s:")
        if not as_json:
            print_report(report)
        rights = licence_story(h, home, clip_path, report, say)
        if "certificate" in rights:
            from hutong.cli.demo_platforms import interconnect_story

            say("\n[bold]Two platforms[/]")
            rights["interconnect"] = interconnect_story(
                h, home, clip_path, rights["certificate"]["certificate"], b_port, say
            )
        rights["claims"] = claims_story(h, home, clip_path, say)
        if as_json:
            result = {
                **report.as_dict(), "truth": [s.__dict__ for s in clip.truth], **rights,
                "voiceover": voiceover, "home": str(home), "kept": tmp is None,
            }  # fmt: skip
            emit_json(result)
            return result
        if tmp is None:
            say(
                f"Try it yourself: HUTONG_HOME={home} hutong check {clip_path} --creator {CREATOR} --platform douyin"
            )
        else:
            say(
                f"\nThe files above are in {home}, which is deleted now that the demo ends. "
                "Run [bold]hutong demo --home DIR[/] (or ./run demo --home DIR) to keep them and try the commands."
            )
        return {**report.as_dict(), **rights}
    finally:
        h.close()
        if tmp is not None:
            tmp.cleanup()


CREATOR = "xiaoming"
HOLDER = "Blender Foundation"


def licence_story(h: Hutong, home: Path, clip_path: Path, report, say) -> dict:
    """check → not compliant → the holder extends the licence → check → certificate → verify offline,
    from the C2PA copy, and a re-encoded copy re-checked by fingerprint."""
    from hutong.compliance import c2pa_manifest
    from hutong.compliance.certificate import verify_certificate
    from hutong.compliance.report import evidence_html, timeline_svg
    from hutong.errors import RightsError
    from hutong.media.synth import run_ffmpeg
    from hutong.rights import LicenceTerms
    from hutong.store import utcnow

    ids = {w.title: w.work_id for w in h.catalogue.list()}
    with contextlib.suppress(RightsError):  # a kept demo home already has the creator
        h.creators.add(CREATOR, name="Xiao Ming", verified=True)
    say("\n[bold]Licensing[/]")
    current = [lic for lic in h.licences.list(include_revoked=False) if lic.holder == HOLDER]
    if current:
        lic = current[0]
    else:
        first = [ids[t] for _, t, _ in WORKS[:2]]
        lic = h.licences.grant(
            HOLDER,
            LicenceTerms.parse(
                {
                    "works": first, "scope": {"kind": "verified"}, "platforms": ["douyin", "bilibili"],
                    "valid_from": utcnow().isoformat(), "valid_until": "2030-01-01",
                    "max_segment_seconds": 15, "attribution": "Blender Foundation, CC BY 3.0/4.0",
                }
            ),
        )  # fmt: skip
        say(
            f"  {HOLDER} grants {lic.code}: works {first} to any verified creator on douyin and bilibili, ≤ 15 s a segment"
        )
    result = h.compliance.check(clip_path, CREATOR, "douyin", report=report)
    steps: dict = {"first_check": result.decision.as_dict()}
    if not result.decision.compliant:
        for d in result.decision.segments:
            say(f"    {d.verdict:>10}: {d.reason}", highlight=False)
        evidence = home / "evidence.html"
        evidence.write_text(evidence_html(result, h.db, issuer=h.settings.issuer), encoding="utf-8")
        say(f"  [red]{result.decision.summary()}[/] — evidence for the holder: {evidence}", highlight=False)
        works = sorted(set(lic.terms.works) | {ids[t] for _, t, _ in WORKS})
        lic = h.licences.amend(
            lic.code, lic.terms.model_copy(update={"works": works}), reason="whole trilogy"
        )
        say(f"  {HOLDER} amends {lic.code} (v{lic.version}) to cover works {works}")
        result = h.compliance.check(clip_path, CREATOR, "douyin", report=report)
    for d in result.decision.segments:
        say(f"    {d.verdict:>10}: {d.reason}", highlight=False)
    timeline = home / "timeline.svg"
    timeline.write_text(timeline_svg(result, h.db), encoding="utf-8")
    say(f"  [green]{result.decision.summary()}[/] — timeline: {timeline}", highlight=False)
    steps["check"] = result.decision.as_dict()
    if not result.decision.compliant:
        return steps

    say("\n[bold]Certificate[/]")
    cert = h.compliance.certify(result)
    cert_path, jwks_path = home / "clip.cert.jws", home / "issuer.jwks.json"
    cert_path.write_text(cert.token + "\n")
    jwks_path.write_text(json.dumps(h.compliance.jwks(), indent=2))
    say(f"  issued {cert.claims['jti']} for @{CREATOR} on {', '.join(cert.claims['platforms'])}: {cert_path}")
    jwks = json.loads(jwks_path.read_text())  # a platform holds only this file
    v = verify_certificate(cert.token, jwks, now=utcnow(), clip=clip_path)
    say(f"  offline verification with only the issuer's JWKS: [bold]{v.code}[/]", highlight=False)
    c2pa_copy = home / "derivative_clip.c2pa.mp4"
    c2pa_manifest.embed(
        clip_path, cert.token, c2pa_copy, keys_dir=h.settings.keys_dir / "c2pa", issuer=h.settings.issuer
    )
    embedded = c2pa_manifest.read(c2pa_copy)
    v2 = verify_certificate(embedded.token, jwks, now=utcnow(), clip=c2pa_copy)
    say(
        f"  certificate embedded as a C2PA manifest ({c2pa_copy.name}), read back and verified: [bold]{v2.code}[/]",
        highlight=False,
    )
    copy = home / "derivative_clip.reencoded.mp4"
    run_ffmpeg(
        ["-i", str(clip_path), "-c:v", "libx264", "-crf", "30", "-c:a", "aac", "-b:a", "96k", str(copy)]
    )
    v3 = verify_certificate(cert.token, jwks, now=utcnow(), clip=copy)
    v4 = h.compliance.recheck(copy, cert.token)
    say(
        f"  a re-encoded copy: [bold]{v3.code}[/] by bytes; re-checked by fingerprint: [bold]{v4.code}[/]",
        highlight=False,
    )
    steps.update(
        certificate=cert.as_dict(),
        verification=v.as_dict(),
        c2pa_verification=v2.code,
        reencoded_copy={"by_bytes": v3.code, "by_fingerprint": v4.code},
    )
    return steps


CLAIMANT, PASSWORD = "xiaohong", "a long enough demo password"


def claims_story(h: Hutong, home: Path, clip_path: Path, say) -> dict:
    """A creator posts the montage on platform A, where no licence covers it: the holder's policy claims the
    Big Buck Bunny part and takes its revenue; the creator disputes, cuts the seconds the claim names, the
    re-check releases the claim, the held revenue goes to her; both statements."""
    import hashlib

    from hutong.claims import ClipUse, PolicyRules, money
    from hutong.errors import RightsError
    from hutong.media.synth import run_ffmpeg

    say("\n[bold]Claims[/]")
    t0 = time.perf_counter()
    with contextlib.suppress(RightsError):
        h.creators.add(CLAIMANT, name="Xiao Hong", verified=True)
    bbb = next(w.work_id for w in h.catalogue.list() if w.title == WORKS[0][1])
    policy = h.policies.set(
        HOLDER, PolicyRules.parse({"default": "monetise", "min_match_seconds": 3}), work=bbb
    )
    say(f"  {HOLDER} sets policy {policy.ref}: monetise unlicensed use of work {bbb} (other works: tracked)")
    p = h.platform
    account = p.accounts.authenticate(CLAIMANT, PASSWORD)  # a kept demo home has her account already
    account_id = account.id if account else p.accounts.register(CLAIMANT, PASSWORD).id
    data = clip_path.read_bytes()
    up = p.ingest.init("demo-app", account_id, size=len(data), filename=clip_path.name)
    for k in range(1, up["part_count"] + 1):
        part = data[(k - 1) * up["part_size"] : k * up["part_size"]]
        p.ingest.put_part(up["upload_id"], "demo-app", account_id, k, part, hashlib.sha256(part).hexdigest())
    video = p.ingest.complete(up["upload_id"], "demo-app", account_id)["video_id"]
    post = p.ingest.create("demo-app", account_id, video_id=video)["post_id"]
    (claim,) = [c for c in h.claims.list(creator=CLAIMANT) if c["post_id"] == post]
    code = claim["code"]
    say(f"  @{CLAIMANT} posts it on {h.settings.platform_name} without a certificate: held, and claim {code} — "
        f"{claim['action']} by {claim['policy']}; to fix: {claim['fix'][0]['text']}", highlight=False)  # fmt: skip
    h.ledger.report("demo-app", f"{post}/day-1", post, 1000, "CNY")
    h.disputes.open(code, CLAIMANT, "fair-use", "a short quote in a review")
    h.ledger.report("demo-app", f"{post}/day-2", post, 600, "CNY")
    say(f"  revenue 10.00 CNY to {HOLDER}; @{CLAIMANT} disputes {code}; the next 6.00 CNY is held")
    cut = float(claim["fix"][0]["from"])
    fixed = home / "derivative_clip.fixed.mp4"
    run_ffmpeg(["-i", str(clip_path), "-t", f"{cut:.2f}", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac",
                str(fixed)])  # fmt: skip
    result = h.compliance.check(fixed, CLAIMANT, h.settings.platform_name)
    done = h.claims.recheck(code, CLAIMANT, ClipUse.of_check(result))
    say(f"  she cuts the clip at {cut:.1f} s and re-checks it: claim {code} is [bold]{done['status']}[/]")
    holder = h.ledger.statement(holder=HOLDER)
    creator = h.ledger.statement(creator=CLAIMANT)
    say(f"  (the claim's story took {time.perf_counter() - t0:.1f} s)")
    for st in (holder, creator):
        say(f"  statement of {st['account']}: " + ", ".join(f"{money(v, c)} {c}" for c, v in st["totals"].items()),
            highlight=False)  # fmt: skip
    return {"claim": h.claims.get(code), "fixed": done["fixed"], "holder_statement": holder,
            "creator_statement": creator}  # fmt: skip
