"""What a check looks like to people: a timeline picture (SVG) and an evidence sheet (one HTML file).

Both are self-contained files: the SVG has no fonts or scripts to fetch, the evidence sheet embeds its
frames as PNG data, so a rights holder can attach either to a takedown request as it is.
"""

from __future__ import annotations

import base64
from html import escape
from pathlib import Path

from hutong.compliance.policy import FORBIDDEN, LICENSED
from hutong.compliance.service import CheckResult
from hutong.errors import MediaError
from hutong.media import frame_png
from hutong.rights.terms import clock
from hutong.store import Database, Work

VERDICT_COLOUR = {LICENSED: "#2e7d32", "unlicensed": "#c62828", FORBIDDEN: "#4a0072"}
WIDTH, LEFT, RIGHT, TRACK = 960, 170, 20, 26


# work colours avoid the verdict colours (green, red, purple), so a fill never reads as a verdict
WORK_COLOURS = ("#1f77b4", "#ff7f0e", "#17becf", "#bcbd22", "#8c564b", "#e377c2", "#7f7f7f", "#aec7e8")


def _work_colour(i: int) -> str:
    return WORK_COLOURS[i % len(WORK_COLOURS)]


def _works(db: Database, ids: set[int]) -> dict[int, Work]:
    with db.session() as s:
        return {i: w for i in ids if (w := s.get(Work, i)) is not None}


def timeline_svg(result: CheckResult, db: Database) -> str:
    """The clip's timeline on top; under it each work's timeline, with every matched segment joined to the
    stretch of the work it uses, coloured by work and outlined by verdict. Forbidden ranges are hatched."""
    d = result.decision
    duration = max(result.report.duration, 0.1)
    ids = sorted({s.segment.work_id for s in d.segments})
    works = _works(db, set(ids))
    span = WIDTH - LEFT - RIGHT
    height = 90 + 70 * len(ids) + 40
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" '
        'font-family="sans-serif" font-size="12">',
        '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
        '<rect width="2" height="6" fill="#9e9e9e"/></pattern></defs>',
        f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>',
        f'<text x="10" y="20" font-size="14" font-weight="bold">{escape(result.clip.name)} — '
        f"{escape(d.summary())}</text>",
    ]
    y_clip = 40

    def x_of(t: float, total: float) -> float:
        return LEFT + span * min(max(t / total, 0.0), 1.0)

    out.append(f'<text x="10" y="{y_clip + 17}">clip ({clock(duration)})</text>')
    out.append(
        f'<rect x="{LEFT}" y="{y_clip}" width="{span}" height="{TRACK}" fill="#eeeeee" stroke="#9e9e9e"/>'
    )
    for k in range(0, int(duration) + 1, max(1, int(duration // 10) or 1)):
        x = x_of(k, duration)
        out.append(f'<text x="{x:.1f}" y="{y_clip - 4}" font-size="9" text-anchor="middle">{clock(k)}</text>')
    links: list[str] = []
    boxes: list[str] = []
    for row, wid in enumerate(ids):
        w = works.get(wid)
        total = max(
            w.duration if w else max(s.segment.ref_end for s in d.segments if s.segment.work_id == wid), 0.1
        )
        y = 110 + 70 * row
        colour = _work_colour(row)
        name = w.title if w else f"work {wid}"
        title = escape(name if len(name) <= 22 else name[:21] + "…")
        out.append(
            f'<text x="10" y="{y + 11}" font-weight="bold">{title}<title>{escape(name)}</title></text>'
        )
        out.append(f'<text x="10" y="{y + 25}" font-size="10" fill="#555">work #{wid}, {clock(total)}</text>')
        out.append(
            f'<rect x="{LEFT}" y="{y}" width="{span}" height="{TRACK}" fill="#f5f5f5" stroke="#9e9e9e"/>'
        )
        for lic in result.licences:
            for r in lic.terms.forbidden:
                if r.work_id == wid:
                    x0, x1 = x_of(r.start, total), x_of(r.end, total)
                    out.append(
                        f'<rect x="{x0:.1f}" y="{y}" width="{max(x1 - x0, 1):.1f}" height="{TRACK}" fill="url(#hatch)">'
                        f"<title>{escape(f'{lic.code} forbids {clock(r.start)}–{clock(r.end)} {r.label}')}</title></rect>"
                    )
        for s in (x for x in d.segments if x.segment.work_id == wid):
            seg, edge = s.segment, VERDICT_COLOUR[s.verdict]
            cx0, cx1 = x_of(seg.query_start, duration), x_of(seg.query_end, duration)
            wx0, wx1 = x_of(seg.ref_start, total), x_of(seg.ref_end, total)
            tip = escape(s.reason)
            links.append(
                f'<polygon points="{cx0:.1f},{y_clip + TRACK} {cx1:.1f},{y_clip + TRACK} {wx1:.1f},{y} {wx0:.1f},{y}" '
                f'fill="{colour}" fill-opacity="0.25" stroke="none"/>'
            )
            for x0, x1, yy in ((cx0, cx1, y_clip), (wx0, wx1, y)):
                boxes.append(
                    f'<rect class="segment {s.verdict}" x="{x0:.1f}" y="{yy}" width="{max(x1 - x0, 1):.1f}" '
                    f'height="{TRACK}" fill="{colour}" stroke="{edge}" stroke-width="3"><title>{tip}</title></rect>'
                )
    out += links + boxes  # the joins under every box, so no join hides a segment
    y = height - 20
    x = LEFT
    for verdict, colour in VERDICT_COLOUR.items():
        out.append(
            f'<rect x="{x}" y="{y - 11}" width="14" height="14" fill="none" stroke="{colour}" stroke-width="3"/>'
        )
        out.append(f'<text x="{x + 20}" y="{y}">{verdict}</text>')
        x += 110
    out.append(f'<rect x="{x}" y="{y - 11}" width="14" height="14" fill="url(#hatch)"/>')
    out.append(f'<text x="{x + 20}" y="{y}">range a licence forbids</text>')
    out.append("</svg>")
    return "\n".join(out)


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _heading(d) -> str:
    """The sheet's title says what the check found, not what evidence sheets are usually for."""
    if not d.segments:
        return "No registered work recognised"
    return "Licensed use of registered works" if d.compliant else "Unlicensed use of registered works"


def evidence_html(result: CheckResult, db: Database, *, issuer: str) -> str:
    """One page per unlicensed or forbidden segment: clip and source frames side by side at matching times."""
    d = result.decision
    bad = [(s, m) for s, m in zip(d.segments, result.report.segments, strict=True) if s.verdict != LICENSED]
    works = _works(db, {s.segment.work_id for s, _ in bad})
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Evidence: {escape(result.clip.name)}</title>",
        "<style>body{font-family:sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse}"
        "td,th{border:1px solid #bbb;padding:4px 8px;text-align:left;vertical-align:top}img{width:320px}"
        ".pair td{border:none}.unlicensed{color:#c62828}.forbidden{color:#4a0072}section{page-break-before:always}</style>",
        "</head><body>",
        f"<h1>{_heading(d)} in {escape(result.clip.name)}</h1>",
        "<table>",
        f"<tr><th>clip</th><td>{escape(str(result.clip))}</td></tr>",
        f"<tr><th>SHA-256</th><td><code>{result.sha256}</code></td></tr>",
        f"<tr><th>duration</th><td>{clock(result.report.duration)} ({result.report.duration:.1f} s)</td></tr>",
        f"<tr><th>creator</th><td>@{escape(d.creator)}</td></tr>",
        f"<tr><th>platform</th><td>{escape(d.platform)}</td></tr>",
        f"<tr><th>checked at</th><td>{d.at:%Y-%m-%d %H:%M:%S} UTC by {escape(issuer)}</td></tr>",
        f"<tr><th>verdict</th><td>{escape(d.summary())}</td></tr>",
        "</table>",
    ]
    if not bad:
        parts.append("<p>Every matched segment is licensed: there is no unlicensed use to show.</p>")
    for n, (s, m) in enumerate(bad, 1):
        seg = s.segment
        w = works.get(seg.work_id)
        parts.append(
            f"<section><h2>{n}. 《{escape(seg.work_title)}》 — <span class='{s.verdict}'>{s.verdict}</span></h2>"
            f"<p>{escape(s.reason)}</p><p>Clip {clock(seg.query_start)}–{clock(seg.query_end)} ↔ work "
            f"{clock(seg.ref_start)}–{clock(seg.ref_end)}; rule <code>{s.rule}</code>; recognition score "
            f"{m.score:.2f}; transform {escape(str(m.transform))}.</p><table class='pair'>"
            "<tr><th>clip</th><th>registered work</th></tr>"
        )
        length = seg.query_end - seg.query_start
        rate = (seg.ref_end - seg.ref_start) / length if length > 0 else 1.0
        for frac in (0.15, 0.5, 0.85):
            tq = seg.query_start + frac * length
            tr = seg.ref_start + frac * length * rate
            try:
                clip_img = _img(frame_png(result.clip, tq), f"clip at {clock(tq)}")
            except MediaError as exc:
                clip_img = escape(str(exc))
            if w is None or not Path(w.source_path).is_file():
                src_img = "source file not available on this machine"
            else:
                try:
                    src_img = _img(frame_png(w.source_path, tr), f"work at {clock(tr)}")
                except MediaError as exc:
                    src_img = escape(str(exc))
            parts.append(
                f"<tr><td>{clip_img}<br>clip {tq:.1f} s</td><td>{src_img}<br>《{escape(seg.work_title)}》 {tr:.1f} s</td></tr>"
            )
        parts.append("</table></section>")
    parts.append("</body></html>")
    return "\n".join(parts)
