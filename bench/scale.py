"""Scaling benchmark: ``python -m bench.scale [--hours 10 100 1000]``.

References beyond the footage are synthetic ``video.dct`` fingerprints drawn from a Gaussian with the mean and
covariance of the real reference vectors (same second-order shape), at the real rate (2 per second). The real
works are added too, and a real 60 s query (benchmark clips' fingerprints, end to end) is searched, so
the latency includes finding real segments among distractors. Measures index bytes per hour of reference,
search + alignment latency of the 60 s query, and the process's resident memory.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import time
from pathlib import Path

import numpy as np

from bench import dataset
from hutong.app import Hutong
from hutong.config import get_settings
from hutong.fingerprint import SIGNAL_TYPES, VideoDCTSignal, learned
from hutong.index import backend
from hutong.match.align import Hits, align
from hutong.match.index import load_fingerprints
from hutong.match.service import NEIGHBOURS, competing_margin

DOCS = Path(__file__).resolve().parent.parent / "docs"
PER_HOUR = 3600 * 2


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def real_material(seed: int, signal: str = "video.dct"):
    learned_home = signal == "video.sscd" or learned.available()  # the home bench.recognition registered
    home = dataset.CACHE / (f"home-{seed}" + ("-sscd" if learned_home else ""))
    h = Hutong.create(get_settings(home=home))
    try:
        sig = SIGNAL_TYPES[signal]()
        refs = load_fingerprints(h.db, sig)
        queries = [
            q for q in dataset.build(seed, log=lambda m: None) if q.family in ("reencode", "mirror", "grade")
        ]
        fps, offset = [], 0.0
        for q in queries:
            if offset >= 60.0:
                break
            _, f = h.recognizer.fingerprint_query(q.path)
            # a cascade's coarse fingerprint completed in every variant: the most a recognition searches
            fp = sig.refine(f[sig.name], set(range(len(f[sig.name].variants))))
            fps.append((fp.times + offset, fp.vectors))
            offset += q.duration
        qt = np.concatenate([t for t, _ in fps])
        qv = np.concatenate([v for _, v in fps])
        return sig, refs, qt, qv, offset
    finally:
        h.close()


def synthetic(real: np.ndarray, n: int, rng: np.random.Generator, batch: int = 500_000):
    live = real[np.linalg.norm(real, axis=1) > 0]
    mean, cov = live.mean(0), np.cov(live.T) + 1e-6 * np.eye(live.shape[1])
    chol = np.linalg.cholesky(cov)
    for start in range(0, n, batch):
        m = min(batch, n - start)
        x = (rng.standard_normal((m, live.shape[1])).astype(np.float32) @ chol.T.astype(np.float32)) + mean
        yield (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def measure(hours: float, backend_name: str, sig, refs, qt, qv, qdur, rng) -> dict:
    n_syn = int(hours * PER_HOUR)
    real_v = np.concatenate([fp.vectors for _, fp in refs])
    real_w = np.concatenate([np.full(len(fp), wid, np.int32) for wid, fp in refs])
    real_t = np.concatenate([fp.times for _, fp in refs])
    vecs = np.concatenate([real_v, *synthetic(real_v, n_syn, rng)])
    work_ids = np.concatenate([real_w, np.full(n_syn, -1, np.int32)])  # synthetic rows belong to no real work
    times = np.concatenate([real_t, (np.arange(n_syn) / 2.0).astype(np.float32)])
    t0 = time.perf_counter()
    idx = backend(backend_name)(sig.dim)
    idx.build(vecs)
    build_s = time.perf_counter() - t0
    del vecs
    t0 = time.perf_counter()
    sims, rows = idx.search(qv, NEIGHBOURS)
    search_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    threshold = sig.threshold - idx.similarity_slack
    qi, kj = np.nonzero((sims >= threshold) & (rows >= 0))
    r = rows[qi, kj]
    margin = competing_margin(sims, rows, work_ids, times, within_work=sig.time_specific)[qi, kj]
    hits = Hits(work_ids[r], qt[qi], times[r], sims[qi, kj], np.zeros(len(qi), np.int32), margin)
    keep = hits.work >= 0
    hits = Hits(
        hits.work[keep], hits.tq[keep], hits.tr[keep], hits.sim[keep], hits.variant[keep], hits.margin[keep]
    )
    found = align(
        hits, query_step=0.5, ref_durations={}, query_duration=qdur, threshold=threshold, signal=sig.name
    )
    align_s = time.perf_counter() - t1
    return {
        "hours": hours,
        "signal": sig.name,
        "backend": backend_name,
        "vectors": int(len(idx)),
        "index_bytes": int(idx.nbytes()),
        "index_mb_per_1000h": idx.nbytes() / max(hours, 1e-9) * 1000 / 1e6,
        "build_seconds": build_s,
        "query_vectors": int(len(qv)),
        "query_seconds": qdur,
        "search_seconds": search_s,
        "align_seconds": align_s,
        "latency_seconds": search_s + align_s,
        "segments_found": len(found),
        "rss_mb": rss_mb(),
    }


def compare(
    hours: float, backend_name: str, rng: np.random.Generator, queries: int = 50, server_pid=None
) -> dict:
    """One backend on synthetic references alone: build time, per-query latency (p50/p99 of ``queries``
    60 s queries, 120 vectors each, noisy copies of references), recall of the copied row, memory held.

    Needs no benchmark footage, so FAISS and Milvus can be compared at any size the machine holds.
    """
    dim, n = VideoDCTSignal.dim, int(hours * PER_HOUR)
    x = rng.standard_normal((n, dim), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    t0 = time.perf_counter()
    idx = backend(backend_name)(dim)
    idx.build(x)
    build_s = time.perf_counter() - t0
    rows = rng.integers(0, n, size=(queries, 120))
    lat, found = [], 0
    for r in rows:
        q = x[r] + 0.05 * rng.standard_normal((len(r), dim), dtype=np.float32)
        q /= np.linalg.norm(q, axis=1, keepdims=True)
        t0 = time.perf_counter()
        _, ids = idx.search(q, NEIGHBOURS)
        lat.append(time.perf_counter() - t0)
        found += int((ids[:, 0] == r).sum())
    held = rss_mb() * 1e6 if server_pid is None else rss_bytes(server_pid)
    return {
        "compare": True,
        "hours": hours,
        "backend": backend_name,
        "vectors": n,
        "index_bytes": int(idx.nbytes()),
        "build_seconds": build_s,
        "queries": queries,
        "query_vectors": 120,
        "query_p50_ms": float(np.percentile(lat, 50) * 1000),
        "query_p99_ms": float(np.percentile(lat, 99) * 1000),
        "recall_at_1": found / rows.size,
        "process_rss_mb": held / 1e6,
        "process": "bench (in-process index)" if server_pid is None else "Milvus server",
    }


def compare_main(args) -> list[dict]:
    import os
    import tempfile

    rng = np.random.default_rng(args.seed)
    server = None
    rows = []
    data = Path(tempfile.mkdtemp(prefix="hutong-milvus-"))
    try:
        if "milvus" in args.backends and not os.environ.get("HUTONG_MILVUS_URI"):
            from hutong.index import milvus_local

            server, uri = milvus_local.start(data)
            os.environ["HUTONG_MILVUS_URI"] = uri
        for hours in args.hours:
            for name in args.backends:
                pid = server.server_proc.pid if (server and name == "milvus") else None
                row = compare(hours, name, rng, server_pid=pid)
                print(json.dumps(row), flush=True)
                rows.append(row)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(data, ignore_errors=True)
    old = json.loads(args.out.read_text()) if args.out.exists() else []
    keep = [
        r
        for r in old
        if not (r.get("compare") and (r["hours"], r["backend"]) in {(x["hours"], x["backend"]) for x in rows})
    ]
    args.out.write_text(json.dumps(keep + rows, indent=1))
    from bench.report import write_report

    write_report()
    return rows


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--hours", type=float, nargs="+", default=[10, 100, 1000])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, default=DOCS / "benchmarks-scale.json")
    ap.add_argument("--backends", nargs="+", default=["faiss-flat", "faiss-ivfpq"])
    ap.add_argument("--signal", default="video.dct", choices=["video.dct", "video.sscd"])
    ap.add_argument(
        "--compare",
        action="store_true",
        help="synthetic references only: query p50/p99, recall and memory per backend (e.g. --backends "
        "faiss-ivfpq milvus); rows are added to the JSON beside the footage rows",
    )
    args = ap.parse_args(argv)
    if args.compare:
        return compare_main(args)
    sig, refs, qt, qv, qdur = real_material(args.seed, args.signal)
    rng = np.random.default_rng(args.seed)
    rows = []
    for hours in args.hours:
        for name in args.backends:
            if name == "faiss-flat" and hours > 100:
                continue  # 7 GB of float32 per 1,000 h and seconds per query: the flat index is not for this size
            row = measure(hours, name, sig, refs, qt, qv, qdur, rng)
            print(json.dumps(row), flush=True)
            rows.append(row)
    # rows of other signals (or sizes) measured by earlier runs stay; this run's replace their own
    mine = {(r["signal"], r["hours"], r["backend"]) for r in rows}
    kept = json.loads(args.out.read_text()) if args.out.exists() else []
    kept = [
        r
        for r in kept
        if r.get("compare") or (r.get("signal", "video.dct"), r["hours"], r["backend"]) not in mine
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(kept + rows, indent=1))  # --compare rows and other signals' rows stay
    from bench.report import write_report

    write_report()
    return rows


if __name__ == "__main__":
    main()


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0
