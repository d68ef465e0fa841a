"""``hutong demo``: the whole recognition flow on the shipped samples, in a throw-away home."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from rich.console import Console

from hutong.app import Hutong
from hutong.config import get_settings
from hutong.media.synth import Piece, build_clip
from hutong.rights.catalogue import sha256_file

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
WORKS = (
    ("bbb_30s.mp4", "Big Buck Bunny (00:30-01:00)", "Blender Foundation"),
    ("sintel_trailer.mp4", "Sintel (trailer)", "Blender Foundation"),
    ("tears_of_steel_battle.mp4", "Tears of Steel (battle)", "Blender Foundation"),
)


def demo_pieces() -> list[Piece]:
    """A vertical 二创 montage: three works, re-framed, mirrored, sped up, graded, with unrelated filler."""
    cars, chaplin = SAMPLES / "cars_unregistered.mp4", SAMPLES / "chaplin_unregistered.mp4"
    return [
        Piece(SAMPLES / "sintel_trailer.mp4", 14.0, 8.0, ("vertical_blur", "mirror", "voiceover"), seed=1),
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
    h = Hutong.create(get_settings(home=home))
    say = (lambda *a, **k: None) if as_json else console.print
    try:
        say(f"[bold]hutong demo[/] — data in {home}")
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
        clip = build_clip(demo_pieces(), clip_path)
        say(
            f"  built a {clip.duration:.1f} s vertical 二创 montage in {time.perf_counter() - t0:.1f} s: {clip_path}"
        )
        for seg, params in zip(
            clip.truth,
            [p for p, pc in zip(clip.params, demo_pieces(), strict=True) if pc.from_work],
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
        if as_json:
            from hutong.cli.app import emit_json

            result = {**report.as_dict(), "truth": [s.__dict__ for s in clip.truth]}
            emit_json(result)
            return result
        from hutong.cli.app import print_report

        print_report(report)
        say(f"Try it yourself: HUTONG_HOME={home} hutong match {clip_path} --json" if tmp is None else "")
        return report.as_dict()
    finally:
        h.close()
        if tmp is not None:
            tmp.cleanup()
