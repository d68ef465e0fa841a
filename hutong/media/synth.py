"""Build derivative clips (二创) the way creators do, with FFmpeg, and know the ground truth.

Used by the demo, the tests and the benchmark. A clip is a sequence of :class:`Piece` objects, each a stretch
of one source with a list of edits (or unrelated filler), rendered separately and concatenated. Every piece
taken from a work becomes a :class:`TruthSegment`: where it sits in the clip and where it came from.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import imageio_ffmpeg

from hutong.errors import MediaError
from hutong.media.reader import probe

#: Edit families hutong must survive (see the recognition issue). Each name is usable in ``Piece.edits``.
EDIT_FAMILIES = (
    "reencode",
    "mirror",
    "crop",
    "vertical_blur",
    "vertical_plain",
    "pip",
    "speed",
    "overlay",
    "grade",
    "fps",
    "voiceover",
)
VERTICAL = {"vertical_blur", "vertical_plain"}
FONT = next(
    (
        p
        for p in (
            "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
            "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        )
        if Path(p).exists()
    ),
    None,
)
SUBTITLES = (
    "这一段太精彩了",
    "Look at this moment",
    "名场面 回顾",
    "Wait for it...",
    "高能预警",
    "Best scene ever",
)


def ffmpeg_exe() -> str:
    return shutil.which("ffmpeg") or imageio_ffmpeg.get_ffmpeg_exe()


@dataclass(frozen=True)
class Piece:
    source: Path
    start: float
    duration: float  # seconds of source used
    edits: tuple[str, ...] = ()
    from_work: bool = True  # False: unrelated filler, not part of the ground truth
    background: Path | None = None  # for picture-in-picture
    seed: int = 0


@dataclass(frozen=True)
class TruthSegment:
    source: str
    ref_start: float
    ref_end: float
    query_start: float
    query_end: float
    edits: tuple[str, ...]


@dataclass
class BuiltClip:
    path: Path
    duration: float
    truth: list[TruthSegment] = field(default_factory=list)
    params: list[dict] = field(default_factory=list)


def run_ffmpeg(args: list[str]) -> None:
    """Run the ffmpeg binary; a failure becomes a one-line :class:`MediaError`."""
    proc = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *args], capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise MediaError("ffmpeg failed: " + " ".join(proc.stderr.split())[:400])


def _text(txt: str, **kw: object) -> str:
    if FONT is None:  # no font to draw with: leave the text out rather than depend on fontconfig
        return "null"
    opts = {"text": txt.replace(":", r"\:").replace("'", ""), **kw}
    opts["fontfile"] = FONT
    return "drawtext=" + ":".join(f"{k}={v}" for k, v in opts.items())


def _speech(text: str, out: Path) -> None:
    espeak = shutil.which("espeak-ng") or shutil.which("espeak")
    if espeak is None:
        raise MediaError("the voiceover edit needs espeak-ng (apt-get install espeak-ng)")
    subprocess.run([espeak, "-s", "150", "-w", str(out), text], check=True, capture_output=True)


def render_piece(piece: Piece, out: Path, canvas: tuple[int, int], workdir: Path) -> dict:
    """Render one piece to ``out`` (H.264/AAC, 25 fps, ``canvas`` size). Returns the parameters drawn."""
    rng = random.Random(piece.seed)
    W, H = canvas
    edits = set(piece.edits)
    params: dict = {"edits": sorted(edits)}
    info = probe(piece.source)
    inputs = ["-ss", f"{piece.start:.3f}", "-t", f"{piece.duration:.3f}", "-i", str(piece.source)]
    chain: list[str] = []
    speed = 1.0
    if "speed" in edits:
        speed = rng.choice([0.8, 0.9, 1.2, 1.25, 1.5])
        params["speed"] = speed
        chain.append(f"setpts=PTS/{speed}")
    if "fps" in edits:
        params["fps"] = rng.choice([10, 12, 15])
        chain.append(f"fps={params['fps']}")
    if "reencode" in edits:
        params["reencode_width"] = rng.choice([192, 240, 320])
        chain.append(f"scale={params['reencode_width']}:-2")
    if "mirror" in edits:
        chain.append("hflip")
    if "crop" in edits:
        c = rng.uniform(0.10, 0.30)
        rx, ry = rng.random(), rng.random()
        params["crop"] = {"removed": round(c, 3), "x": round(rx, 2), "y": round(ry, 2)}
        chain.append(
            f"crop=trunc(iw*{1 - c:.3f}/2)*2:trunc(ih*{1 - c:.3f}/2)*2:iw*{c * rx:.3f}:ih*{c * ry:.3f}"
        )
    if "grade" in edits:
        looks = [
            f"eq=contrast={rng.uniform(1.1, 1.4):.2f}:brightness={rng.uniform(-0.08, 0.08):.2f}:saturation={rng.uniform(0.3, 1.8):.2f}:gamma={rng.uniform(0.75, 1.35):.2f}",
            f"hue=h={rng.randint(-40, 40)}",
            f"noise=alls={rng.randint(8, 20)}:allf=t",
            f"gblur=sigma={rng.uniform(1.0, 2.5):.1f}",
            "colorbalance=rs=0.2:bs=-0.2:gm=0.1",
        ]
        picked = rng.sample(looks, 3)
        params["grade"] = picked
        chain.extend(picked)
    if "overlay" in edits:
        sticker_w = rng.uniform(0.12, 0.22)
        logo_w = rng.uniform(0.15, 0.30)
        params["overlay"] = {"sticker": round(sticker_w, 2), "logo": round(logo_w, 2)}
        chain.append(
            f"drawbox=x=iw*{rng.uniform(0.05, 0.7):.2f}:y=ih*{rng.uniform(0.1, 0.5):.2f}:w=iw*{sticker_w:.2f}:h=iw*{sticker_w:.2f}:color=yellow@0.9:t=fill"
        )
        chain.append(
            f"drawbox=x=iw*0.02:y=ih*0.03:w=iw*{logo_w:.2f}:h=ih*{logo_w * 0.6:.2f}:color=0x2040c0@0.85:t=fill"
        )
        chain.append(_text("HUTONG", fontcolor="white", fontsize="h/14", x="w*0.04", y="h*0.06"))
        chain.append(
            _text(
                rng.choice(SUBTITLES),
                fontcolor="white",
                fontsize="h/12",
                x="(w-text_w)/2",
                y="h*0.85",
                borderw=3,
            )
        )

    graph: list[str] = []
    base = "[0:v]" + (",".join(chain) if chain else "null")
    if edits & VERTICAL:
        params["layout"] = "vertical"
        graph.append(f"{base},split[a][b]")
        if "vertical_blur" in edits:
            graph.append(
                f"[a]scale={W}:{H}:force_original_aspect_ratio=increase,crop={W}:{H},boxblur=20:4[bg]"
            )
        else:
            graph.append(f"[a]scale={W}:{H},drawbox=c=black:t=fill[bg]")
        graph.append(f"[b]scale={W}:-2[fg]")
        bar = rng.uniform(0.08, 0.14)
        graph.append(
            f"[bg][fg]overlay=(W-w)/2:(H-h)/2,drawbox=x=0:y=0:w=iw:h=ih*{bar:.2f}:color=black@0.85:t=fill,"
            + _text(
                rng.choice(SUBTITLES),
                fontcolor="white",
                fontsize="h/22",
                x="(w-text_w)/2",
                y=f"h*{bar / 3:.3f}",
            )
            + ","
            + _text("#二创 #movie", fontcolor="white", fontsize="h/28", x="(w-text_w)/2", y="h*0.80")
            + "[v]"
        )
    elif "pip" in edits:
        if piece.background is None:
            raise MediaError("the pip edit needs a background video")
        scale = rng.uniform(0.30, 0.60)
        x, y = rng.uniform(0.02, 0.98 - scale), rng.uniform(0.02, 0.98 - scale)
        params["pip"] = {"scale": round(scale, 2), "x": round(x, 2), "y": round(y, 2)}
        bg_info = probe(piece.background)
        bg_start = rng.uniform(0, max(0.0, bg_info.duration - piece.duration / speed - 0.5))
        inputs += [
            "-ss",
            f"{bg_start:.3f}",
            "-t",
            f"{piece.duration / speed:.3f}",
            "-i",
            str(piece.background),
        ]
        graph.append(f"[1:v]scale={W}:{H}:force_original_aspect_ratio=increase,crop={W}:{H},setsar=1[bg]")
        graph.append(f"{base},scale={round(W * scale / 2) * 2}:-2,drawbox=c=white:t=2[fg]")
        graph.append(f"[bg][fg]overlay=W*{x:.3f}:H*{y:.3f}:shortest=1[v]")
    else:
        graph.append(
            f"{base},scale={W}:{H}:force_original_aspect_ratio=decrease,pad={W}:{H}:(ow-iw)/2:(oh-ih)/2[v]"
        )
    graph[-1] = graph[-1][: -len("[v]")] + ",setsar=1,fps=25,format=yuv420p[v]"

    out_dur = piece.duration / speed
    if "voiceover" in edits:
        speech = workdir / f"speech_{piece.seed}.wav"
        _speech(" ".join(rng.sample(VOICE_LINES, 3)), speech)
        f0 = rng.choice([196, 220, 247, 262])
        inputs += ["-i", str(speech)]
        inputs += [
            "-f",
            "lavfi",
            "-t",
            f"{out_dur:.3f}",
            "-i",
            f"aevalsrc=0.08*sin({f0}*2*PI*t)+0.06*sin({f0 * 1.5}*2*PI*t)*sin(2*PI*t):s=44100",
        ]
        n = len([a for a in inputs if a == "-i"])
        graph.append(
            f"[{n - 2}:a]apad[sp];[sp][{n - 1}:a]amix=inputs=2:duration=shortest,atrim=0:{out_dur:.3f}[aout]"
        )
        params["audio"] = "voiceover+music"
    elif info.has_audio:
        tempo = f",atempo={speed}" if speed != 1.0 else ""
        graph.append(f"[0:a]aresample=44100{tempo},apad,atrim=0:{out_dur:.3f}[aout]")
    else:
        inputs += ["-f", "lavfi", "-t", f"{out_dur:.3f}", "-i", "anullsrc=r=44100:cl=stereo"]
        n = len([a for a in inputs if a == "-i"])
        graph.append(f"[{n - 1}:a]anull[aout]")
    crf = "38" if "reencode" in edits else "23"
    run_ffmpeg(
        [
            *inputs,
            "-filter_complex",
            ";".join(graph),
            "-map", "[v]", "-map", "[aout]",
            "-t", f"{out_dur:.3f}",
            "-c:v", "libx264", "-preset", "veryfast", "-crf", crf, "-g", "50",
            "-c:a", "aac", "-ar", "44100", "-ac", "2", "-b:a", "96k",
            str(out),
        ]
    )  # fmt: skip
    return params


VOICE_LINES = (
    "Today we look back at the most famous scene of this film.",
    "Notice how the director frames the hero here.",
    "This is where everything changes for the story.",
    "Many fans missed this small detail.",
    "Let me explain why this moment matters so much.",
    "The music and the colours tell us what is coming.",
)


def build_clip(pieces: list[Piece], out: str | Path, *, vertical: bool | None = None) -> BuiltClip:
    """Render ``pieces`` in order into one MP4 at ``out`` and return it with its ground truth."""
    out = Path(out)
    if vertical is None:
        vertical = any(set(p.edits) & VERTICAL for p in pieces)
    canvas = (360, 640) if vertical else (640, 360)
    clip = BuiltClip(path=out, duration=0.0)
    with tempfile.TemporaryDirectory(prefix="hutong-synth-") as tmp:
        work = Path(tmp)
        parts: list[Path] = []
        cursor = 0.0
        for i, piece in enumerate(pieces):
            part = work / f"part{i:03d}.mp4"
            params = render_piece(piece, part, canvas, work)
            length = probe(part).duration
            parts.append(part)
            clip.params.append(params)
            if piece.from_work:
                speed = params.get("speed", 1.0)
                used = min(piece.duration, length * speed)
                clip.truth.append(
                    TruthSegment(
                        source=str(piece.source),
                        ref_start=piece.start,
                        ref_end=piece.start + used,
                        query_start=cursor,
                        query_end=cursor + used / speed,
                        edits=tuple(sorted(piece.edits)),
                    )
                )
            cursor += length
        if len(parts) == 1:
            shutil.copyfile(parts[0], out)
        else:
            listing = work / "parts.txt"
            listing.write_text("".join(f"file '{p}'\n" for p in parts))
            run_ffmpeg(
                [
                    "-f",
                    "concat",
                    "-safe",
                    "0",
                    "-i",
                    str(listing),
                    "-c",
                    "copy",
                    "-movflags",
                    "+faststart",
                    str(out),
                ]
            )
    clip.duration = probe(out).duration
    return clip
