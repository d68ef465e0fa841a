"""Scaling benchmark: ``python -m bench.scale [--hours 10 100 1000]``.

References beyond the footage are synthetic fingerprints with the mean and covariance of the real reference
vectors (same second-order shape), at the real rate (2 per second), in works whose consecutive vectors are as
alike as the real footage's (``synthetic``): the index drops near-identical consecutive vectors, and i.i.d.
draws would have none to drop. They are generated and indexed in chunks, so memory stays bounded at 10,000 h. The real
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
from hutong.match.index import held_rows, load_fingerprints
from hutong.match.service import (
    NEIGHBOURS,
    alignment_options,
    candidate_works,
    competing_margin,
    nearest_rows,
)

DOCS = Path(__file__).resolve().parent.parent / "docs"
PER_HOUR = 3600 * 2
WARMUP_SEARCHES = 20  # at most, before a compare row measures queries


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _scale_queries(seed: int) -> list[dataset.Query]:
    """The benchmark clips the scale query is made of, end to end: lightly edited uses, about 60 s."""
    out, offset = [], 0.0
    for q in dataset.build(seed, log=lambda m: None):
        if q.family in ("reencode", "mirror", "grade") and offset < 60.0:
            out.append(q)
            offset += q.duration
    return out


def truth_segments(seed: int, names: dict[str, int]) -> list[list]:
    """The uses the scale query really holds, as [work id, query start, query end] (``names``: file name ->
    work id), whichever signal can see them."""
    out, offset = [], 0.0
    for q in _scale_queries(seed):
        out += [[names[t["source"]], round(t["query_start"] + offset, 1), round(t["query_end"] + offset, 1)]
                for t in q.truth if t["source"] in names]  # fmt: skip
        offset += q.duration
    return out


def real_material(seed: int, signal: str = "video.dct"):
    learned_home = signal == "video.sscd" or learned.available()  # the home bench.recognition registered
    home = dataset.CACHE / (f"home-{seed}" + ("-sscd" if learned_home else ""))
    h = Hutong.create(get_settings(home=home))
    try:
        sig = SIGNAL_TYPES[signal]()
        refs = load_fingerprints(h.db, sig)
        names = {Path(w.source_path).name: w.work_id for w in h.catalogue.list()}
        fps, offset = [], 0.0
        for q in _scale_queries(seed):
            _, f = h.recognizer.fingerprint_query(q.path)
            fp = sig.complete(f[sig.name])  # every variant at every sample: the most a recognition searches
            fps.append((fp.times + offset, fp.vectors))
            offset += q.duration
        qt = np.concatenate([t for t, _ in fps])
        qv = np.concatenate([v for _, v in fps])
        return sig, refs, qt, qv, offset, truth_segments(seed, names)
    finally:
        h.close()


def motion_profile(refs) -> tuple[np.ndarray, np.ndarray]:
    """Cosines between consecutive vectors of the real references, work after work (0 where a vector is
    zero): how alike the footage stays from one sample to the next; and which vectors are not zero (a still
    moment gives no motion vector, silence no sound vector)."""
    out, live = [], []
    for _, fp in refs:
        v = fp.vectors
        n = np.linalg.norm(v, axis=1)
        c = (v[1:] * v[:-1]).sum(1) / np.maximum(n[1:] * n[:-1], 1e-12)
        out.append(np.r_[0.0, np.clip(c, 0.0, 1.0)])
        live.append(n > 0)
    return np.concatenate(out).astype(np.float32), np.concatenate(live)


def synthetic(
    real: np.ndarray,
    profile: np.ndarray,
    n: int,
    rng: np.random.Generator,
    work_seconds=500,
    rate: float = 2.0,
    live: np.ndarray | None = None,
):
    """``n`` synthetic reference vectors in chunks of (vectors, work ids, times): works of ``work_seconds``,
    each a sequence that follows the real footage's motion: in the whitened space of the real vectors,
    x_t = c_t·x_(t-1) + sqrt(1 - c_t²)·noise, with c_t the real consecutive cosines replayed from a random
    place (static stretches give runs of near-identical vectors, cuts give fresh draws), then coloured with
    the real mean and covariance. Where ``live`` (replayed from the same place) says the real vector was
    zero, the synthetic one is zero too: the index drops those, as it drops the real ones. Synthetic works
    have negative ids: they are no real work."""
    moving = real[np.linalg.norm(real, axis=1) > 0]
    dim = moving.shape[1]
    mean, cov = moving.mean(0), np.cov(moving.T) + 1e-6 * np.eye(dim)
    chol = np.linalg.cholesky(cov).T.astype(np.float32)
    mean = mean.astype(np.float32)
    steps = int(work_seconds * rate)
    streams = max(1, 400_000 // steps)  # vectors per chunk: bounded memory whatever the hours
    work = 0
    for start in range(0, n, streams * steps):
        m = min(streams * steps, n - start)
        s = -(-m // steps)
        z = np.empty((steps, s, dim), np.float32)
        z[0] = rng.standard_normal((s, dim), dtype=np.float32)
        at = rng.integers(0, len(profile), size=s)
        for t in range(1, steps):
            c = profile[(at + t) % len(profile)][:, None]
            z[t] = c * z[t - 1] + np.sqrt(1 - c * c) * rng.standard_normal((s, dim), dtype=np.float32)
        x = z.transpose(1, 0, 2).reshape(-1, dim)[:m] @ chol + mean
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        if live is not None:
            still = ~live[(at[:, None] + np.arange(steps)[None, :]) % len(live)].reshape(-1)[:m]
            x[still] = 0.0
        ids = -1 - (work + np.arange(m) // steps)
        times = (np.arange(m) % steps / rate).astype(np.float32)
        work += s
        yield x, ids.astype(np.int64), times


def segments_of(found) -> list[list]:
    """[work id, query start, query end] of each alignment; the same work over the same stretch of the
    query once (a still screencast aligns at several work times: one claim of the clip, as recognition
    reports it)."""
    out = [[int(a.work_id), round(float(a.query_start), 1), round(float(a.query_end), 1)] for a in found]
    return [s for i, s in enumerate(out) if s not in out[:i]]


def same_segments(found: list[list], reference: list[list]) -> tuple[int, int]:
    """How many reference segments ``found`` has (same work, query ranges overlapping by half the shorter),
    and how many found segments are in no reference segment."""

    def overlaps(a, b) -> bool:
        inter = min(a[2], b[2]) - max(a[1], b[1])
        return a[0] == b[0] and inter >= 0.5 * min(a[2] - a[1], b[2] - b[1])

    hit = sum(any(overlaps(r, f) for f in found) for r in reference)
    extra = sum(not any(overlaps(f, r) for r in reference) for f in found)
    return hit, extra


def against_truth(found: list[list], reference: list[list], truth: list[list]) -> dict:
    """The reference's segments that are real uses (in ``truth``), how many of those ``found`` has, and how
    many of its own segments are no use at all. An exact index of every vector can match what is not
    there (the same music under two works): losing such a segment is no loss."""
    real = [r for r in reference if same_segments([r], truth)[0]]
    return {
        "true_reference_segments": len(real),
        "true_reference_found": same_segments(found, real)[0],
        "false_segments": len(found) - same_segments(truth, found)[0],
        "truth": truth,
    }


def measure(
    hours: float,
    backend_name: str,
    sig,
    refs,
    qt,
    qv,
    qdur,
    seed: int,
    *,
    dedupe: bool = True,
    nprobes: list[int] | None = None,
    save_to: Path | None = None,
) -> list[tuple[dict, list[list]]]:
    """Index the real works and ``hours`` of synthetic ones (streamed in chunks where the backend trains on
    a sample), then search and align the real 60 s query: once, or once per ``nprobes`` (lists scanned per
    query vector) on the same index. ``save_to``: keep the index there as a checkpoint (for
    ``bench.endtoend``)."""
    from hutong.match import index as match_index

    rng = np.random.default_rng(seed)  # every size and backend sees the same distractors, prefix of the next
    n_syn = int(hours * 3600 * sig.fps)  # the signal's own reference rate
    real_v = np.concatenate([fp.vectors for _, fp in refs])
    real = [(real_v, np.concatenate([np.full(len(fp), wid, np.int64) for wid, fp in refs]),
             np.concatenate([fp.times for _, fp in refs]))]  # fmt: skip
    profile, live = motion_profile(refs)
    chunks = synthetic(real_v, profile, n_syn, rng, rate=sig.fps, live=live)
    first = next(chunks, None)
    head = real + ([first] if first is not None else [])
    sample = np.concatenate([c[0] for c in head])
    saved = dict(match_index.DEDUPE)
    if not dedupe:
        match_index.DEDUPE.clear()
    stats: dict = {}
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        idx = match_index.RecognitionIndex.from_chunks(
            sig.name, sig.dim, _chain(head, chunks), backend_name, 0,
            sample=sample, total=len(real_v) + n_syn, stats=stats,
        )  # fmt: skip
        build_s, build_cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        match_index.DEDUPE.clear()
        match_index.DEDUPE.update(saved)
    built = {
        "hours": hours,
        "signal": sig.name,
        "backend": backend_name if dedupe else f"{backend_name} (all vectors)",
        "vectors_seen": int(stats["seen"]),
        "vectors": int(len(idx.backend)),
        "kept_ratio": stats["kept"] / max(1, stats["seen"]),
        "real_kept_ratio": real_kept_ratio(sig.name, real[0]) if dedupe else 1.0,
        "index_bytes": int(idx.nbytes()),
        "index_mb_per_1000h": idx.nbytes() / max(hours, 1e-9) * 1000 / 1e6,
        "build_seconds": build_s,
        "build_cpu_seconds": build_cpu,
        "no_precomputed_table": True,  # FAISS's distance table is not kept (see faiss_backends)
    }
    if save_to is not None:
        save_to.mkdir(parents=True, exist_ok=True)
        idx.save(save_to)
    out = []
    stored = {wid: held_rows(sig.name, wid, fp) for wid, fp in refs}
    for nprobe in nprobes or [None]:
        row = dict(built)
        if nprobe is not None:
            idx.backend.set_nprobe(nprobe)
            row["backend"], row["nprobe"] = f"{row['backend']} nprobe={nprobe}", nprobe
        row.update(search_and_align(idx, sig, qt, qv, qdur, stored))
        out.append((row, row["segments"]))
    return out


def search_and_align(idx, sig, qt, qv, qdur, stored: dict | None = None) -> dict:
    """Search the query's vectors and align their hits as recognition does: timings and segments found.
    Where the index is approximate and ``stored`` holds the real works' rows (work id -> (keys, vectors), as
    :func:`hutong.match.index.held_rows` gives them), the works it names are then compared with those
    exactly, as the recognizer does (the synthetic works have none: they drop out, as unrelated real works
    mostly would); ``index_segments`` keeps what the index's own estimates align to. FAISS searches on one
    thread: the end-to-end target is stated for one core, and a second OpenMP thread spinning while it waits
    would count as CPU (a 1,000 h ``video.sscd`` search took 0.38 s of wall time and 0.85 CPU-s on two
    threads)."""
    import faiss

    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        sims, rows = idx.search(qv, NEIGHBOURS)
        search_s, search_cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        faiss.omp_set_num_threads(threads)
    t1, c1 = time.perf_counter(), time.process_time()
    threshold = sig.threshold - idx.backend.similarity_slack
    estimates = sims, rows, threshold
    if stored is not None and idx.backend.similarity_slack > 0:
        named = candidate_works(sims, rows, idx.work_ids, threshold)
        sims, rows = nearest_rows(qv, [stored[w] for w in named if w in stored], NEIGHBOURS)
        threshold = sig.threshold
    found = segments_of(_align(idx, sig, qt, qdur, sims, rows, threshold))
    align_s, align_cpu = time.perf_counter() - t1, time.process_time() - c1
    extra = {}
    if threshold != estimates[2]:  # untimed: what the index's own estimates align to
        extra["index_segments"] = segments_of(_align(idx, sig, qt, qdur, *estimates))
    return {
        "query_vectors": int(len(qv)),
        "query_seconds": qdur,
        "search_seconds": search_s,
        "align_seconds": align_s,
        "latency_seconds": search_s + align_s,
        "latency_cpu_seconds": search_cpu + align_cpu,
        "search_threads": 1,
        "segments_found": len(found),
        "segments": found,
        "rss_mb": rss_mb(),
    } | extra


def _align(idx, sig, qt, qdur, sims, rows, threshold) -> list:
    qi, kj = np.nonzero((sims >= threshold) & (rows >= 0))
    r = rows[qi, kj]
    margin = competing_margin(sims, rows, idx.work_ids, idx.times, within_work=sig.time_specific)[qi, kj]
    hits = Hits(idx.work_ids[r], qt[qi], idx.times[r], sims[qi, kj], np.zeros(len(qi), np.int32), margin)
    keep = hits.work >= 0
    hits = Hits(
        hits.work[keep], hits.tq[keep], hits.tr[keep], hits.sim[keep], hits.variant[keep], hits.margin[keep]
    )
    return align(hits, ref_durations={}, query_duration=qdur, threshold=threshold, **alignment_options(sig))


def _chain(head, rest):
    yield from head
    yield from rest


def real_kept_ratio(signal: str, real) -> float:
    """The share of the real references' vectors the index keeps (zero vectors and repeats dropped)."""
    from hutong.match.index import _distinct

    v, w, t = real
    return float(_distinct(signal, v, w, t).mean())


#: above this many bytes of float32 the synthetic references of ``compare`` are never held at once (10,000 h
#: are 18 GB): they are generated in chunks, each from its own seed, as often as they are read
IN_MEMORY_BYTES = 4 << 30
CHUNK_ROWS = 1_000_000


class SyntheticVectors:
    """``n`` random unit vectors of ``dim``, held in memory or regenerated chunk by chunk when large."""

    def __init__(self, rng: np.random.Generator, n: int, dim: int) -> None:
        self.n, self.dim = n, dim
        self.seed = int(rng.integers(1 << 62))
        self.held = self.chunk(0, n) if n * dim * 4 <= IN_MEMORY_BYTES else None

    def chunk(self, start: int, stop: int) -> np.ndarray:
        x = np.random.default_rng([self.seed, start]).standard_normal((stop - start, self.dim), np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        return x

    def batches(self):
        """(vectors, ids) in order, one chunk at a time."""
        for start in range(0, self.n, CHUNK_ROWS):
            stop = min(self.n, start + CHUNK_ROWS)
            yield self.chunk(start, stop), np.arange(start, stop, dtype=np.int64)

    def take(self, rows: np.ndarray) -> np.ndarray:
        """The vectors of ``rows`` (any shape of row numbers; one more pass over the chunks if not held)."""
        flat = rows.ravel()
        if self.held is not None:
            return self.held[flat].reshape(*rows.shape, self.dim)
        out = np.empty((len(flat), self.dim), np.float32)
        for x, ids in self.batches():
            inside = (flat >= ids[0]) & (flat <= ids[-1])
            out[inside] = x[flat[inside] - ids[0]]
        return out.reshape(*rows.shape, self.dim)


def compare(
    hours: float,
    backend_name: str,
    rng: np.random.Generator,
    queries: int = 50,
    server_pid=None,
    nprobes: list[int] | None = None,
) -> list[dict]:
    """One backend on synthetic references alone: build time, per-query latency (p50/p99 of ``queries``
    60 s queries, 120 vectors each, noisy copies of references), recall of the copied row, memory held; one
    row at the backend's default, then one per ``nprobes`` (lists scanned per query vector), on the same
    built index.

    Needs no benchmark footage, so FAISS and Milvus can be compared at any size the machine holds; past
    ``IN_MEMORY_BYTES`` only a backend that builds from batches (Milvus) can take the vectors.
    """
    dim, n = VideoDCTSignal.dim, int(hours * PER_HOUR)
    x = SyntheticVectors(rng, n, dim)
    idx = backend(backend_name)(dim)
    if x.held is None and not hasattr(idx, "build_from"):
        raise SystemExit(f"{backend_name} needs all {n * dim * 4 / 1e9:.0f} GB of vectors in memory")
    t0 = time.perf_counter()
    if x.held is not None:
        idx.build(x.held)
    else:
        idx.build_from(x.batches, n)  # the second pass regenerates the chunks: build time includes it
    build_s = time.perf_counter() - t0
    out = []
    for nprobe in [None, *(nprobes or [])]:  # the backend's default first, named plainly
        if nprobe is not None:
            idx.set_nprobe(nprobe)
        row = _measure_queries(idx, x, rng, queries)
        held = rss_mb() * 1e6 if server_pid is None else rss_bytes(server_pid)
        row = {
            "compare": True,
            "hours": hours,
            "backend": backend_name if nprobe is None else f"{backend_name} nprobe={nprobe}",
            "vectors": n,
            "index_bytes": int(idx.nbytes()),
            "build_seconds": build_s,
            **row,
            "process_rss_mb": held / 1e6,
            "process": "bench (in-process index)" if server_pid is None else "Milvus server",
        }
        if nprobe is not None:
            row["nprobe"] = nprobe
        out.append(row)
    return out


def _measure_queries(idx, x: SyntheticVectors, rng: np.random.Generator, queries: int) -> dict:
    warm_rows = rng.integers(0, x.n, size=(WARMUP_SEARCHES, 120))
    rows = rng.integers(0, x.n, size=(queries, 120))
    warm_q, base = x.take(warm_rows), x.take(rows)
    # Search until three in a row take about the same time (caches filled; a server done with its
    # background work), then measure the steady state; the row keeps the first search's time, how many it
    # took, how long, and whether they settled at all.
    warm, settled = [], False
    for q in warm_q:
        t0 = time.perf_counter()
        idx.search(q, NEIGHBOURS)
        warm.append(time.perf_counter() - t0)
        if len(warm) >= 3 and max(warm[-3:]) <= 1.25 * min(warm[-3:]):
            settled = True
            break
    lat, found = [], 0
    for r, v in zip(rows, base, strict=True):
        q = v + 0.05 * rng.standard_normal(v.shape, dtype=np.float32)
        q /= np.linalg.norm(q, axis=1, keepdims=True)
        t0 = time.perf_counter()
        _, ids = idx.search(q, NEIGHBOURS)
        lat.append(time.perf_counter() - t0)
        found += int((ids[:, 0] == r).sum())
    return {
        "queries": queries,
        "query_vectors": 120,
        "first_search_ms": warm[0] * 1000,
        "warmup_searches": len(warm),
        "warmup_seconds": sum(warm),
        "warmup_settled": settled,
        "query_p50_ms": float(np.percentile(lat, 50) * 1000),
        "query_p99_ms": float(np.percentile(lat, 99) * 1000),
        "recall_at_1": found / rows.size,
    }


def rss_bytes(pid: int) -> int:
    """Resident memory of another process (the Milvus server)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


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

            big = max(args.hours) * PER_HOUR * VideoDCTSignal.dim * 4 > IN_MEMORY_BYTES
            server, uri = milvus_local.start(data, bulk_build=big)
            os.environ["HUTONG_MILVUS_URI"] = uri
        for hours in args.hours:
            for name in args.backends:
                pid = server.server_proc.pid if (server and name == "milvus") else None
                nprobes = args.nprobe if name in ("faiss-ivfpq", "milvus") else None
                for row in compare(hours, name, rng, args.queries, pid, nprobes):
                    print(json.dumps(row), flush=True)
                    rows.append(row)
                    # each row as soon as it is measured: a later one may fail
                    _keep_compare_rows(args.out, [row])
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(data, ignore_errors=True)
    from bench.report import write_report

    write_report()
    return rows


def _keep_compare_rows(out: Path, rows: list[dict]) -> None:
    old = json.loads(out.read_text()) if out.exists() else []
    mine = {(x["hours"], x["backend"]) for x in rows}
    keep = [r for r in old if not (r.get("compare") and (r["hours"], r["backend"]) in mine)]
    out.write_text(json.dumps(keep + rows, indent=1))


def saved_index_folder(hours: float, seed: int = 7) -> Path:
    """Where ``--save-index`` keeps an index of ``hours`` (one checkpoint per signal)."""
    return dataset.CACHE / f"scale-index-{seed}-{hours:g}h"


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--hours", type=float, nargs="+", default=[10, 100, 1000])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, default=DOCS / "benchmarks-scale.json")
    ap.add_argument("--backends", nargs="+", default=["faiss-flat", "faiss-ivfpq"])
    ap.add_argument("--signal", default="video.dct", choices=sorted(SIGNAL_TYPES))
    ap.add_argument(
        "--nprobe",
        type=int,
        nargs="+",
        help="faiss-ivfpq (and milvus with --compare): search the same index scanning this many lists per "
        "query vector, one row each (default: the backend's own, faiss-ivfpq 24; --compare measures the "
        "default first, then these; milvus's default is 32 lists of each segment)",
    )
    ap.add_argument(
        "--queries", type=int, default=50, help="--compare: 60 s queries measured per row (default 50)"
    )
    ap.add_argument(
        "--compare",
        action="store_true",
        help="synthetic references only: query p50/p99, recall and memory per backend (e.g. --backends "
        "faiss-ivfpq milvus); rows are added to the JSON beside the footage rows",
    )
    ap.add_argument(
        "--save-index",
        action="store_true",
        help="keep the largest faiss-ivfpq index as a checkpoint in bench/.cache/scale-index-<hours>h, where "
        "`python -m bench.endtoend` recognises real clips against it",
    )
    args = ap.parse_args(argv)
    if args.compare:
        return compare_main(args)
    sig, refs, qt, qv, qdur, truth = real_material(args.seed, args.signal)
    rows = []
    # the reference: an exact index of every vector at the smallest size; the others are compared with it
    [(ref, reference)] = measure(
        min(args.hours), "faiss-flat", sig, refs, qt, qv, qdur, args.seed, dedupe=False
    )
    ref |= against_truth(reference, reference, truth)
    rows.append(ref)
    print(json.dumps(ref), flush=True)
    for hours in args.hours:
        for name in args.backends:
            if name == "faiss-flat" and hours > 100:
                continue  # 7 GB of float32 per 1,000 h and seconds per query: the flat index is not for this size
            nprobes = args.nprobe if name == "faiss-ivfpq" else None
            keep = args.save_index and name == "faiss-ivfpq" and hours == max(args.hours)
            save_to = saved_index_folder(hours, args.seed) if keep else None
            for row, found in measure(
                hours, name, sig, refs, qt, qv, qdur, args.seed, nprobes=nprobes, save_to=save_to
            ):
                kept, extra = same_segments(found, reference)
                row |= {
                    "reference_segments": len(reference),
                    "reference_found": kept,
                    "extra_segments": extra,
                } | against_truth(found, reference, truth)
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
