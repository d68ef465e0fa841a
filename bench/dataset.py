"""The benchmark's query set: built deterministically (seeded) from ../shared/footage, cached on disk.

Some works are registered, the rest are kept unregistered: they serve as filler in montages, as the
background of picture-in-picture, and as the only material of the negative clips.
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import asdict, dataclass
from pathlib import Path

from hutong.media import probe
from hutong.media.synth import EDIT_FAMILIES, Piece, build_clip

# freely licensed footage with a manifest of sources and licences, kept outside the repository
FOOTAGE = Path(
    os.environ.get("HUTONG_FOOTAGE") or Path(__file__).resolve().parent.parent.parent / "shared" / "footage"
)
CACHE = Path(__file__).resolve().parent / ".cache"

REGISTERED = (
    "big_buck_bunny__03m03s-06m00s__hls_reassembled_1280x720.mp4",
    "sintel_trailer_2010__full_52s__1280x720.mp4",
    "tears_of_steel__battle_clip_70s__800x332.webm",
    "nasa_apollo15_feather_hammer_drop__47s__480x360.mkv",
    "intel_one_by_one_person__139s__768x432.mp4",
    "gnome_help_screencasts_compilation__7clips__640x480.mp4",
    "webrtc_samples_chrome_animation__30s__480x270.webm",
    "his_girl_friday_1940__excerpt_6s.mp4",
    "mdn_toys_crystal__12s__720x480.mp4",
    "intel_bottle_detection__40s__640x360.mp4",
    "nasa_space_shuttle__10s__1080x608.webm",
)
UNREGISTERED = (
    "intel_car_detection__30s__768x432.mp4",
    "xiph_derf_tractor__10s__512x288.webm",
    "mdn_bug__7s__640x360.mp4",
    "mdn_flower__5s__960x540.mp4",
    "mdn_toys_elf__8s__720x480.mp4",
    "mdn_toys_frog__8s__720x480.mp4",
    "mdn_toys_monster__7s__720x480.mp4",
    "mdn_toys_pig__7s__720x480.mp4",
    "mdn_toys_rabbit__8s__720x480.mp4",
    "intel_asl_gestures_compilation__20clips__640x480.mp4",
    "intel_sample_videos_gif_previews_compilation__12clips__480x270.mp4",
    "chromium_bear__3s__320x240.webm",
    "chaplin_silent_film__excerpt_10s.mp4",
)
#: audio-only queries: soundtrack excerpts of registered works, re-encoded
AUDIO_SOURCES = (
    "big_buck_bunny__03m03s-06m00s__hls_reassembled_1280x720.mp4",
    "sintel_trailer_2010__full_52s__1280x720.mp4",
    "tears_of_steel__battle_clip_70s__800x332.webm",
    "nasa_apollo15_feather_hammer_drop__47s__480x360.mkv",
)
SINGLE_EDITS = tuple(f for f in EDIT_FAMILIES)


@dataclass
class Query:
    name: str
    family: str  # an edit family, "combined", "montage", "negative" or "audio_only"
    path: str
    duration: float
    truth: list[dict]  # TruthSegment dicts (source = footage file name)
    edits: list[list[str]]


def durations() -> dict[str, float]:
    return {name: probe(FOOTAGE / name).duration for name in REGISTERED + UNREGISTERED}


def plan(
    seed: int = 7, per_family: int = 6, combined: int = 12, montages: int = 8, negatives: int = 20
) -> list[tuple[str, str, list[Piece]]]:
    rng = random.Random(seed)
    dur = durations()
    long_works = [w for w in REGISTERED if dur[w] >= 12]
    fillers = list(UNREGISTERED)

    def piece(work: str, length: float, edits: tuple[str, ...]) -> Piece:
        length = min(length, dur[work] - 0.5)
        start = rng.uniform(0, max(0.0, dur[work] - length - 0.2))
        bg = FOOTAGE / rng.choice(
            [
                "intel_car_detection__30s__768x432.mp4",
                "intel_asl_gestures_compilation__20clips__640x480.mp4",
                "intel_sample_videos_gif_previews_compilation__12clips__480x270.mp4",
            ]
        )
        return Piece(
            FOOTAGE / work,
            round(start, 2),
            round(length, 2),
            edits,
            background=bg,
            seed=rng.randrange(1 << 30),
        )

    def filler(length: float) -> Piece:
        f = rng.choice(fillers)
        length = min(length, dur[f] - 0.3)
        start = rng.uniform(0, max(0.0, dur[f] - length - 0.2))
        return Piece(
            FOOTAGE / f, round(start, 2), round(length, 2), (), from_work=False, seed=rng.randrange(1 << 30)
        )

    out: list[tuple[str, str, list[Piece]]] = []
    for fam in SINGLE_EDITS:
        for i in range(per_family):
            out.append((f"{fam}_{i}", fam, [piece(rng.choice(long_works), rng.uniform(6, 12), (fam,))]))
    compatible = [f for f in SINGLE_EDITS if f not in ("vertical_plain",)]
    for i in range(combined):
        a, b = rng.sample(compatible, 2)
        if {a, b} <= {"vertical_blur", "pip"} or {a, b} == {"vertical_blur", "pip"}:
            b = "grade"
        out.append((f"combined_{i}", "combined", [piece(rng.choice(long_works), rng.uniform(6, 12), (a, b))]))
    for i in range(montages):
        pieces: list[Piece] = []
        for _ in range(rng.randint(2, 4)):
            if rng.random() < 0.7:
                pieces.append(filler(rng.uniform(1.5, 4)))
            edit = rng.choice(("mirror", "crop", "grade", "overlay", "speed", "reencode", "fps"))
            pieces.append(piece(rng.choice(long_works), rng.uniform(3, 12), (edit,)))
        out.append((f"montage_{i}", "montage", pieces))
    for i in range(negatives):
        pieces = []
        for _ in range(rng.randint(1, 3)):
            p = filler(rng.uniform(3, 8))
            edit = rng.choice(
                ((), ("mirror",), ("grade",), ("overlay",), ("crop",), ("vertical_blur",), ("reencode",))
            )
            pieces.append(Piece(p.source, p.start, p.duration, edit, from_work=False, seed=p.seed))
        out.append((f"negative_{i}", "negative", pieces))
    return out


def build(seed: int = 7, log=print, **kw) -> list[Query]:
    folder = CACHE / f"queries-{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    queries: list[Query] = []
    for name, family, pieces in plan(seed, **kw):
        meta, clip_path, cached = _cached(folder, name, ".mp4")
        if cached:
            queries.append(cached)
            continue
        log(f"building {name}")
        clip = build_clip(pieces, clip_path)
        q = Query(
            name=name,
            family=family,
            path=str(clip_path),
            duration=clip.duration,
            truth=[{**asdict(t), "source": Path(t.source).name} for t in clip.truth],
            edits=[list(p.edits) for p in pieces],
        )
        meta.write_text(json.dumps(asdict(q), indent=1))
        queries.append(q)
    queries.extend(audio_only(seed, folder, log))
    queries.extend(hard_negatives(seed, folder, log))
    queries.extend(static_queries(seed, folder, log))
    queries.extend(static_negatives(seed, folder, log))
    return queries


def _cached(folder: Path, name: str, suffix: str) -> tuple[Path, Path, Query | None]:
    """Paths of a query's metadata and media, and the query itself when both were built before."""
    meta, media = folder / f"{name}.json", folder / f"{name}{suffix}"
    cached = Query(**json.loads(meta.read_text())) if meta.exists() and media.exists() else None
    return meta, media, cached


def audio_only(seed: int, folder: Path, log) -> list[Query]:
    from hutong.media.synth import run_ffmpeg

    rng = random.Random(seed + 1)
    out = []
    for i, name in enumerate(AUDIO_SOURCES * 2):
        meta, path, cached = _cached(folder, f"audio_{i}", ".m4a")
        if cached:
            out.append(cached)
            continue
        log(f"building audio_{i}")
        d = probe(FOOTAGE / name).duration
        length = rng.uniform(8, 15)
        start = rng.uniform(0, d - length - 0.5)
        vol = rng.uniform(0.5, 1.2)
        run_ffmpeg(["-ss", f"{start:.2f}", "-t", f"{length:.2f}", "-i", str(FOOTAGE / name), "-vn", "-af", f"volume={vol:.2f}",
              "-c:a", "aac", "-b:a", "48k", "-ac", "1", str(path)])  # fmt: skip
        q = Query(f"audio_{i}", "audio_only", str(path), probe(path).duration,
                  [{"source": name, "ref_start": start, "ref_end": start + length, "query_start": 0.0, "query_end": length, "edits": ["audio_only"]}],
                  [["audio_only"]])  # fmt: skip
        meta.write_text(json.dumps(asdict(q), indent=1))
        out.append(q)
    return out


#: negatives that are not footage of any work: what a recogniser must not claim however often it sees it
HARD_NEGATIVES = (
    ("bars", "smpte colour bars and a 1 kHz tone"),
    ("black", "black with a quiet hum"),
    ("title", "a title card (white text on dark, fading in and out)"),
    ("title_credits", "scrolling credits"),
    ("still", "a still frame of unregistered footage, held"),
    ("still_zoom", "a still frame of unregistered footage with a slow zoom (Ken Burns)"),
    ("testsrc", "a moving test pattern"),
    ("still_vertical", "a still frame of unregistered footage re-framed 9:16 over a blurred copy"),
)


def hard_negatives(seed: int, folder: Path, log) -> list[Query]:
    """Clips of no work: colour bars, black, title cards, credits, held and zoomed stills of unregistered
    footage, a test pattern. Seeded: the stills come from random moments of the unregistered files."""
    from hutong.media.synth import FONT, run_ffmpeg

    rng = random.Random(seed + 2)
    out = []
    enc = ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-r", "25", "-c:a", "aac", "-b:a", "64k", "-shortest"]
    for kind, _what in HARD_NEGATIVES:
        name = f"negative_{kind}"
        meta, path, cached = _cached(folder, name, ".mp4")
        if cached:
            out.append(cached)
            continue
        log(f"building {name}")
        length = round(rng.uniform(5, 9), 2)
        hum = ["-f", "lavfi", "-i", f"anoisesrc=color=brown:amplitude=0.02:duration={length}"]
        font = f":fontfile={FONT}" if FONT else ""
        if kind == "bars":
            video = ["-f", "lavfi", "-i", f"smptebars=size=640x360:rate=25:duration={length}"]
            audio = ["-f", "lavfi", "-i", f"sine=frequency=1000:duration={length}"]
            run_ffmpeg([*video, *audio, *enc, str(path)])
        elif kind == "black":
            run_ffmpeg(["-f", "lavfi", "-i", f"color=c=black:size=640x360:rate=25:duration={length}", *hum,
                        *enc, str(path)])  # fmt: skip
        elif kind in ("title", "title_credits"):
            text = rng.choice(("Chapter One", "第一集", "THE END", "Episode 3: The Road"))
            if kind == "title":
                draw = (f"drawtext=text='{text}'{font}:fontsize=40:fontcolor=white:x=(w-tw)/2:y=(h-th)/2,"
                        f"fade=in:0:12,fade=out:st={length - 0.6}:d=0.5")  # fmt: skip
            else:
                lines = [
                    "Directed by A. Person",
                    "Music by B. Person",
                    "Edited by C. Person",
                    "Thanks to all",
                ]
                draw = ",".join(
                    f"drawtext=text='{line}'{font}:fontsize=24:fontcolor=white:x=(w-tw)/2:y=h-t*40+{k * 50}"
                    for k, line in enumerate(lines)
                )
            bg = rng.choice(("0x101018", "0x000000", "0x202020"))
            run_ffmpeg(["-f", "lavfi", "-i", f"color=c={bg}:size=640x360:rate=25:duration={length}", *hum,
                        "-vf", draw, *enc, str(path)])  # fmt: skip
        elif kind == "testsrc":
            run_ffmpeg(["-f", "lavfi", "-i", f"testsrc2=size=640x360:rate=25:duration={length}", *hum,
                        *enc, str(path)])  # fmt: skip
        else:  # stills of unregistered footage
            src = FOOTAGE / rng.choice(UNREGISTERED)
            at = rng.uniform(0, max(0.0, probe(src).duration - 1))
            still = folder / f"{name}.png"
            run_ffmpeg(["-ss", f"{at:.2f}", "-i", str(src), "-frames:v", "1", str(still)])
            if kind == "still":
                vf = "scale=640:360,setsar=1"
            elif kind == "still_zoom":
                vf = (f"scale=1280:720,zoompan=z='min(zoom+0.0015,1.3)':d={int(length * 25)}:s=640x360:fps=25,"
                      "setsar=1")  # fmt: skip
            else:
                vf = ("split[a][b];[a]scale=360:640,boxblur=20[bg];[b]scale=360:-2[fg];"
                      "[bg][fg]overlay=(W-w)/2:(H-h)/2,setsar=1")  # fmt: skip
            run_ffmpeg(["-loop", "1", "-framerate", "25", "-t", f"{length}", "-i", str(still), *hum,
                        "-vf", vf, "-t", f"{length}", *enc, str(path)])  # fmt: skip
        q = Query(name, "negative", str(path), probe(path).duration, [], [[kind]])
        meta.write_text(json.dumps(asdict(q), indent=1))
        out.append(q)
    return out


#: registered works of static footage: a screencast compilation and two fixed cameras (the kind of content
#: lectures, game play and surveillance-style documentaries are made of: most of the picture never moves)
STATIC_WORKS = (
    "gnome_help_screencasts_compilation__7clips__640x480.mp4",
    "intel_one_by_one_person__139s__768x432.mp4",
    "intel_bottle_detection__40s__640x360.mp4",
)
STATIC_EDITS = (("reencode",), ("overlay",), ("crop",), ("vertical_blur",), ("mirror",), ("grade",))


def static_queries(seed: int, folder: Path, log, count: int = 6) -> list[Query]:
    """The "static" family: uses of the static works under light edits, one query per edit in turn. Each
    query has its own seeded draw, so building some of them never changes the others."""
    dur = durations()
    out = []
    for i in range(count):
        name = f"static_{i}"
        meta, clip_path, cached = _cached(folder, name, ".mp4")
        if cached:
            out.append(cached)
            continue
        log(f"building {name}")
        rng = random.Random(f"{seed}-{name}")
        work = STATIC_WORKS[i % len(STATIC_WORKS)]
        edits = STATIC_EDITS[i % len(STATIC_EDITS)]
        length = min(rng.uniform(6, 12), dur[work] - 0.5)
        start = rng.uniform(0, dur[work] - length - 0.2)
        piece = Piece(FOOTAGE / work, round(start, 2), round(length, 2), edits, seed=rng.randrange(1 << 30))
        clip = build_clip([piece], clip_path)
        q = Query(name, "static", str(clip_path), clip.duration,
                  [{**asdict(t), "source": Path(t.source).name} for t in clip.truth], [list(edits)])  # fmt: skip
        meta.write_text(json.dumps(asdict(q), indent=1))
        out.append(q)
    return out


#: negatives that look like the static works without being any of them
STATIC_NEGATIVES = (
    ("fixed_camera", "a fixed camera on a street (unregistered)"),
    ("fixed_camera_person", "a fixed camera on a person signing (unregistered), re-encoded"),
    ("screencast", "a screencast of an unregistered app: a text editor scrolling, a cursor blinking"),
)


def static_negatives(seed: int, folder: Path, log) -> list[Query]:
    """Unregistered fixed-camera footage and a synthetic screencast: static pictures of no work."""
    from hutong.media.synth import FONT, run_ffmpeg

    dur = durations()
    out = []
    for kind, _what in STATIC_NEGATIVES:
        name = f"negative_{kind}"
        meta, path, cached = _cached(folder, name, ".mp4")
        if cached:
            out.append(cached)
            continue
        log(f"building {name}")
        rng = random.Random(f"{seed}-{name}")
        if kind == "screencast":
            length = round(rng.uniform(8, 12), 2)
            font = f":fontfile={FONT}" if FONT else ""
            # (indent, text) per line; no colons or quotes, which the filter syntax would take for its own
            code = [
                (0, "def main"),
                (1, "args = parse"),
                (1, "for item in args"),
                (2, "print item"),
                (1, "return 0"),
                (0, ""),
                (0, "class Editor"),
                (1, "def open self path"),
                (2, "pass"),
            ] * 3
            lines = ",".join(
                f"drawtext=text='{line}'{font}:fontsize=16:fontcolor=0x202020:x={60 + 32 * ind}:y={70 + k * 22}-t*12"
                for k, (ind, line) in enumerate(code)
                if line
            )
            vf = (f"drawbox=x=0:y=0:w=640:h=32:color=0x3050a0:t=fill,drawbox=x=0:y=32:w=44:h=448:color=0xdddddd:t=fill,"
                  f"{lines},drawbox=x=0:y=0:w=640:h=32:color=0x3050a0:t=fill,"
                  f"drawbox=x='200+40*sin(t)':y=240:w=2:h=18:color=black:t=fill:enable='lt(mod(t,1),0.5)'")  # fmt: skip
            run_ffmpeg(["-f", "lavfi", "-i", f"color=c=0xf4f4f4:size=640x480:rate=25:duration={length}",
                        "-f", "lavfi", "-i", f"anoisesrc=color=brown:amplitude=0.02:duration={length}",
                        "-vf", vf, "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k",
                        "-shortest", str(path)])  # fmt: skip
            q = Query(name, "negative", str(path), probe(path).duration, [], [[kind]])
        else:
            src = "intel_car_detection__30s__768x432.mp4" if kind == "fixed_camera" else (
                "intel_asl_gestures_compilation__20clips__640x480.mp4")  # fmt: skip
            edits = () if kind == "fixed_camera" else ("reencode",)
            length = rng.uniform(6, 10)
            start = rng.uniform(0, dur[src] - length - 0.2)
            piece = Piece(FOOTAGE / src, round(start, 2), round(length, 2), edits, from_work=False,
                          seed=rng.randrange(1 << 30))  # fmt: skip
            clip = build_clip([piece], path)
            q = Query(name, "negative", str(path), clip.duration, [], [[kind]])
        meta.write_text(json.dumps(asdict(q), indent=1))
        out.append(q)
    return out
