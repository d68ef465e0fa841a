"""Recognition benchmark: ``python -m bench.recognition`` regenerates docs/benchmarks.md (recognition part).

Accuracy: VCSL segment precision/recall/F1 overall and per edit family, clip-level work precision/recall,
false alarms on negatives; hutong against framewise pHash, vPDQ and videohash on the same queries, and
against Chromaprint on audio-only queries. Speed: fingerprinting throughput against decode-only time of the
same files. Scale: see ``bench/scale.py``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from bench import dataset
from bench.vcsl import micro, pair_precision_recall
from hutong.app import Hutong
from hutong.config import get_settings
from hutong.fingerprint import CLASSICAL, default_signals, extract, learned
from hutong.match import Recognizer
from hutong.media import decode_only, probe

DOCS = Path(__file__).resolve().parent.parent / "docs"


def boxes(segs: list[dict]) -> np.ndarray:
    return np.array(
        [[s["query_start"], s["ref_start"], s["query_end"], s["ref_end"]] for s in segs], float
    ).reshape(-1, 4)


def evaluate(
    queries: list[dataset.Query], predictions: dict[str, list[dict]], work_names: dict[int, str]
) -> dict:
    """Per family and overall: VCSL P/R/F1, clip-level work P/R, false alarms on negatives."""
    per_family: dict[str, list] = defaultdict(list)
    work_tp = work_fp = work_fn = 0
    fam_work = defaultdict(lambda: [0, 0, 0])
    negatives_flagged = 0
    negatives = 0
    for q in queries:
        preds = predictions.get(q.name, [])
        by_work_pred: dict[str, list] = defaultdict(list)
        for p in preds:
            by_work_pred[work_names.get(p["work_id"], "?")].append(p)
        by_work_truth: dict[str, list] = defaultdict(list)
        for t in q.truth:
            by_work_truth[t["source"]].append(t)
        for w in set(by_work_pred) | set(by_work_truth):
            pr = pair_precision_recall(boxes(by_work_pred.get(w, [])), boxes(by_work_truth.get(w, [])))
            per_family[q.family].append(pr)
        tp = len(set(by_work_pred) & set(by_work_truth))
        fp, fn = len(set(by_work_pred) - set(by_work_truth)), len(set(by_work_truth) - set(by_work_pred))
        work_tp, work_fp, work_fn = work_tp + tp, work_fp + fp, work_fn + fn
        fw = fam_work[q.family]
        fw[0], fw[1], fw[2] = fw[0] + tp, fw[1] + fp, fw[2] + fn
        if q.family == "negative":
            negatives += 1
            negatives_flagged += bool(preds)
    video = [pr for fam, prs in per_family.items() if fam != "negative" for pr in prs]
    out = {
        "overall": micro(video),
        "families": {fam: micro(prs) for fam, prs in sorted(per_family.items()) if fam != "negative"},
        "work_precision": work_tp / max(1, work_tp + work_fp),
        "work_recall": work_tp / max(1, work_tp + work_fn),
        "false_alarm_rate": negatives_flagged / max(1, negatives),
        "negatives": negatives,
    }
    for fam, (tp, _fp, fn) in fam_work.items():
        if fam in out["families"]:
            out["families"][fam]["work_recall"] = tp / max(1, tp + fn)
    return out


def configurations(default: list[str]) -> dict[str, list[str]]:
    """The hutong rows of one run: the default signal set and, when that is the learned one, the classical
    signals alone and all four together; every row matches fingerprints of the same queries."""
    out = {"hutong": list(default)}
    if "video.sscd" in default:
        out["hutong (classical signals only)"] = list(CLASSICAL)
        # the default leaves the classical video signals out: this row shows what they would add
        out["hutong (all four signals)"] = list(dict.fromkeys([*CLASSICAL, *default]))
    return out


def run_hutong(queries, home: Path, log) -> tuple[dict[str, dict], dict, dict]:
    default = [s.name for s in default_signals("auto")]
    configs = configurations(default)
    every = list(dict.fromkeys(n for names in configs.values() for n in names))
    # the catalogue holds every row's fingerprints; the timings are the default row's alone
    h = Hutong.create(get_settings(home=home, signals=",".join(every)))
    try:
        names = {w.source_path: w.work_id for w in h.catalogue.list()}
        for name in dataset.REGISTERED:
            src = str((dataset.FOOTAGE / name).resolve())
            if src not in names:
                w = h.catalogue.add_one(Path(src), title=name, holder="bench", check_duplicates=False)
                names[src] = w.work_id
        work_names = {wid: Path(src).name for src, wid in names.items()}
        recognizers = {
            row: Recognizer(h.settings, h.db, [s for s in h.recognizer.signals if s.name in sigs])
            for row, sigs in configs.items()
        }
        others = Recognizer(h.settings, h.db, [s for s in h.recognizer.signals if s.name not in default])
        preds: dict[str, dict] = {row: {} for row in configs}
        latency = []
        split: dict[str, float] = {}  # CPU seconds of the default row, summed over queries
        for q in queries:
            t0 = time.perf_counter()
            frames: dict = {}  # one decode of the clip for both extractions
            info, fps = recognizers["hutong"].fingerprint_query(q.path, frames=frames, timings=split)
            extract_s = time.perf_counter() - t0
            if others.signals:  # fingerprints only the other rows use: not the default's time
                fps |= others.fingerprint_query(q.path, info, frames=frames)[1]
            for row, rec in recognizers.items():
                t0 = time.perf_counter()
                report = rec.match_fingerprints(
                    q.path, info.duration, fps, timings=split if row == "hutong" else None
                )
                preds[row][q.name] = [s.as_dict() for s in report.segments]
                if row == "hutong":
                    latency.append(extract_s + time.perf_counter() - t0)
        log(f"hutong rows: {', '.join(f'{k} = {v}' for k, v in configs.items())}")
        speed = fingerprint_speed(recognizers["hutong"].signals, log)
        speed.update(startup_seconds(log))
        speed["signals"] = configs["hutong"]
        speed["match_seconds_median"] = float(np.median(latency))
        speed["match_seconds_p95"] = float(np.percentile(latency, 95))
        speed["query_seconds_median"] = float(np.median([q.duration for q in queries]))
        # where a recognition's time goes, per 60 s of clip (decode, each descriptor, search, align)
        per_min = 60.0 / sum(q.duration for q in queries)
        speed["split_cpu_seconds_per_60s_clip"] = {k: v * per_min for k, v in sorted(split.items())}
        # end to end (decode, layout, descriptors, search, align) and the part that does not grow with the
        # catalogue (everything before the search): the 1,000 h figure is this plus Scale's search + align
        speed["end_to_end_cpu_seconds_per_60s_clip"] = sum(split.values()) * per_min
        speed["extract_cpu_seconds_per_60s_clip"] = (
            sum(v for k, v in split.items() if k not in ("search", "align")) * per_min
        )
        speed["one_core"] = _pinned()
        log(
            "CPU s per 60 s of clip: " + ", ".join(f"{k} {v * per_min:.2f}" for k, v in sorted(split.items()))
        )
        log(
            f"end to end {speed['end_to_end_cpu_seconds_per_60s_clip']:.2f} CPU s per 60 s of clip "
            f"(before the search {speed['extract_cpu_seconds_per_60s_clip']:.2f}; one core: {speed['one_core']})"
        )
        return preds, work_names, speed
    finally:
        h.close()


def _pinned() -> bool:
    import os

    return hasattr(os, "sched_getaffinity") and len(os.sched_getaffinity(0)) == 1


def pin_one_core() -> None:
    """Run on one core (the target is stated for one; ONNX Runtime is set to one thread already)."""
    import os

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


#: the reference sets of the speed table: the benchmark's first registered files (mostly small), and HD
SPEED_SETS = {
    "benchmark footage": dataset.REGISTERED[:4],
    "720p": (
        "big_buck_bunny__03m03s-06m00s__hls_reassembled_1280x720.mp4",
        "big_buck_bunny__00m30s-01m00s__hls_reassembled_1280x720.mp4",
        "sintel_trailer_2010__full_52s__1280x720.mp4",
    ),
}
HD_SOURCE = "big_buck_bunny__00m30s-01m00s__hls_reassembled_1280x720.mp4"


def hd_1080p(log) -> Path:
    """A 1920x1080 reference made on the fly (cached, not committed): a 720p file re-encoded with PyAV, as
    published footage is (x264 defaults: B-frames, some of them referred to), its sound copied."""
    import av

    out_path = dataset.CACHE / "hd" / HD_SOURCE.replace("1280x720", "1920x1080")
    if out_path.exists():
        return out_path
    log(f"making {out_path.name}")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_suffix(".part.mp4")
    with av.open(str(dataset.FOOTAGE / HD_SOURCE)) as src, av.open(str(tmp), "w") as out:
        vin, ain = src.streams.video[0], src.streams.audio[0]
        vout = out.add_stream("libx264", rate=vin.average_rate)
        vout.width, vout.height, vout.pix_fmt = 1920, 1080, "yuv420p"
        vout.options = {"crf": "20", "preset": "fast"}
        aout = out.add_stream_from_template(ain)
        for packet in src.demux(vin, ain):
            if packet.stream is ain:
                if packet.dts is not None:
                    packet.stream = aout
                    out.mux(packet)
                continue
            for frame in packet.decode():
                big = frame.reformat(width=1920, height=1080, interpolation="BICUBIC")
                big.pts, big.time_base = frame.pts, frame.time_base
                out.mux(vout.encode(big))
        out.mux(vout.encode(None))
    tmp.rename(out_path)
    return out_path


def fingerprint_speed(signals, log) -> dict:
    """Seconds of media per CPU-second: reference fingerprinting (all signals) vs decoding every frame, on the
    benchmark's footage and on HD references. CPU seconds (``time.process_time``: every thread of the process,
    the decoder's included)."""
    sets = {name: [dataset.FOOTAGE / n for n in files] for name, files in SPEED_SETS.items()}
    sets["1080p"] = [hd_1080p(log)]
    rows = []
    for name, files in sets.items():
        media = sum(probe(f).duration for f in files)
        decode_cpu = fp_cpu = float("inf")
        split: dict[str, float] = {}
        for _ in range(2):  # interleaved, best of two: the other core's load must not decide the ratio
            t0 = time.process_time()
            for f in files:
                decode_only(f)
            decode_cpu = min(decode_cpu, time.process_time() - t0)
            t0 = time.process_time()
            timings: dict[str, float] = {}
            for f in files:
                extract(signals, str(f), probe(f), query=False, timings=timings)
            cpu = time.process_time() - t0
            if cpu < fp_cpu:
                fp_cpu, split = cpu, timings
        sizes = {(i.width, i.height) for i in map(probe, files)}
        rows.append(
            {
                "set": name,
                "files": len(files),
                "size": "{}x{}".format(*sizes.pop()) if len(sizes) == 1 else "mixed",
                "media_seconds": media,
                "decode_cpu_seconds": decode_cpu,
                "fingerprint_cpu_seconds": fp_cpu,
                "sampling_cpu_seconds": split.get("decode", 0.0),
                "descriptor_cpu_seconds": {k.split(":", 1)[1]: v for k, v in split.items() if ":" in k},
                "ratio_to_decode": decode_cpu / fp_cpu,
            }
        )
        log(
            f"fingerprinting {name} ({media:.0f} s of media): {fp_cpu:.1f} CPU-s, decode only {decode_cpu:.1f} "
            f"CPU-s, ratio {decode_cpu / fp_cpu:.2f}"
        )
    first = rows[0]
    return {
        "media_seconds": first["media_seconds"],
        "fingerprint_cpu_seconds": first["fingerprint_cpu_seconds"],
        "decode_cpu_seconds": first["decode_cpu_seconds"],
        "fingerprint_media_s_per_cpu_s": first["media_seconds"] / first["fingerprint_cpu_seconds"],
        "decode_media_s_per_cpu_s": first["media_seconds"] / first["decode_cpu_seconds"],
        "ratio_to_decode": first["ratio_to_decode"],
        "sets": rows,
    }


def startup_seconds(log, runs: int = 7) -> dict:
    """Wall seconds until ``hutong --help`` (and ``hutong match --help``) has printed, in a fresh
    interpreter each time, median of ``runs``: what someone typing the command waits, imports included."""
    import subprocess
    import sys

    out = {}
    for key, args in (("help", ["--help"]), ("match_help", ["match", "--help"])):
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "hutong", *args], check=True, capture_output=True)
            times.append(time.perf_counter() - t0)
        out[f"{key}_seconds"] = float(np.median(times))
    log(
        f"start-up: hutong --help {out['help_seconds']:.2f} s, hutong match --help {out['match_help_seconds']:.2f} s"
    )
    return out


def speed_only(out: Path, log) -> dict:
    """Re-measure the speed table alone and update it in ``out`` (the accuracy results stay as they are)."""
    results = json.loads(out.read_text()) if out.exists() else {}
    signals = default_signals(get_settings().signals)  # what Hutong.create would run
    speed = results.get("speed", {})
    speed.update(fingerprint_speed(signals, log))
    speed.update(startup_seconds(log))
    speed["signals"] = [s.name for s in signals]
    results["speed"] = speed
    out.write_text(json.dumps(results, indent=1))
    return results


def run_peer(peer, queries, log) -> dict:
    works = {i: str(dataset.FOOTAGE / n) for i, n in enumerate(dataset.REGISTERED)}
    t0 = time.perf_counter()
    peer.index(works)
    log(f"{peer.name}: indexed in {time.perf_counter() - t0:.1f} s")
    preds = {}
    for q in queries:
        try:
            preds[q.name] = peer.match(q.path)
        except Exception as exc:  # a peer that cannot read a query simply finds nothing there
            log(f"{peer.name} failed on {q.name}: {exc}")
            preds[q.name] = []
    return preds, {i: n for i, n in enumerate(dataset.REGISTERED)}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--per-family", type=int, default=6)
    ap.add_argument("--no-peers", action="store_true", help="hutong only (quick tuning runs)")
    ap.add_argument("--out", type=Path, default=DOCS / "benchmarks-recognition.json")
    ap.add_argument(
        "--speed-only", action="store_true", help="re-measure the fingerprinting speed table only"
    )
    args = ap.parse_args(argv)
    log = lambda m: print(m, flush=True)  # noqa: E731
    pin_one_core()
    if args.speed_only:
        from bench.report import write_report

        results = speed_only(args.out, log)
        write_report()
        return results
    queries = dataset.build(args.seed, log=log, per_family=args.per_family)
    video_q = [q for q in queries if q.family != "audio_only"]
    audio_q = [q for q in queries if q.family == "audio_only"]
    # a catalogue per signal set: a home registered without the learned descriptor lacks its fingerprints
    home = dataset.CACHE / (f"home-{args.seed}" + ("-sscd" if learned.available() else ""))
    rows, names, speed = run_hutong(queries, home, log)
    results = {}
    for row, preds in rows.items():
        results[row] = evaluate(video_q, preds, names)
    preds = rows["hutong"]
    results["hutong_audio_only"] = evaluate(audio_q, preds, names)
    results["speed"] = speed
    results["queries"] = {"video": len(video_q), "audio_only": len(audio_q), "seed": args.seed}
    results["misses"] = _misses(video_q, preds, names)
    (dataset.CACHE / f"predictions-{args.seed}.json").write_text(
        json.dumps({"preds": preds, "rows": rows, "names": names}, default=float)
    )
    if not args.no_peers:
        from bench import peers

        for peer in peers.video_peers(log):
            p, n = run_peer(peer, video_q, log)
            results[peer.name] = evaluate(video_q, p, n)
            peers.clean_tmp(peer)
        if peers.ChromaprintPeer.available():
            cp = peers.ChromaprintPeer()
            p, n = run_peer(cp, audio_q, log)
            results[cp.name + " audio_only"] = evaluate(audio_q, p, n)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    from bench.report import write_report

    write_report()
    _print_summary(results)
    return results


def _misses(queries, preds, names) -> list[str]:
    out = []
    for q in queries:
        got = {names.get(p["work_id"]) for p in preds.get(q.name, [])}
        want = {t["source"] for t in q.truth}
        if got != want:
            out.append(f"{q.name}: want {sorted(want)} got {sorted(x or '?' for x in got)}")
    return out


def _print_summary(results: dict) -> None:
    for system, r in results.items():
        if isinstance(r, dict) and "overall" in r:
            o = r["overall"]
            print(
                f"{system:40s} F1 {o['f1']:.3f} P {o['precision']:.3f} R {o['recall']:.3f} FA {r['false_alarm_rate']:.3f}"
            )
            for fam, m in r["families"].items():
                print(f"    {fam:16s} F1 {m['f1']:.3f} P {m['precision']:.3f} R {m['recall']:.3f}")


if __name__ == "__main__":
    main()
