"""Ingest benchmark: ``python -m bench.ingest``.

Two real ``hutong serve`` processes on loopback: A issues a licence certificate for a 二创 clip, B trusts A.
An app on B (OAuth token of a user of B) then:

- uploads a real 21.6 MB video (../shared/footage, Big Buck Bunny 3:03–6:00) in 5 MiB parts with per-part
  SHA-256, sequentially and 4 parts at a time, then completes it (assembly + probe); best of 3;
- peer in the same run: the same bytes POSTed in one request to a bare Starlette endpoint that writes them
  to disk (the loopback + framework floor, with no checksums, no resumability, no database);
- posts the certified clip with ``create_video`` 40 times: latency of certificate verification included
  (the first call fetches A's JWKS and status; later calls use the cache).

Writes docs/benchmarks-ingest.json and regenerates docs/benchmarks.md.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bench.dataset import FOOTAGE
from bench.report import write_report
from hutong.api.background import Background, free_port
from hutong.app import Hutong
from hutong.cli.demo import SAMPLES
from hutong.config import get_settings
from hutong.media.synth import Piece, build_clip
from hutong.rights import LicenceTerms

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAYLOAD = FOOTAGE / "big_buck_bunny__03m03s-06m00s__hls_reassembled_1280x720.mp4"


def certify(home: Path, issuer: str) -> tuple[Path, str]:
    h = Hutong.create(get_settings(home=home, issuer=issuer))
    try:
        for name in ("bbb_30s.mp4", "sintel_trailer.mp4"):
            h.catalogue.add_one(
                SAMPLES / name, title=name, holder="Blender Foundation", check_duplicates=False
            )
        clip = build_clip(
            [
                Piece(SAMPLES / "bbb_30s.mp4", 5, 8, ("grade",), seed=1),
                Piece(SAMPLES / "sintel_trailer.mp4", 14, 7, ("mirror",), seed=2),
            ],
            home / "clip.mp4",
        )
        h.creators.add("xiaoming", verified=True)
        h.licences.grant("Blender Foundation", LicenceTerms.parse({"works": [1, 2], "scope": {"kind": "verified"}, "platforms": ["bench-b"],
                                                                     "valid_from": "2026-01-01", "valid_until": "2030-01-01"}))  # fmt: skip
        return clip.path, h.compliance.certify(h.compliance.check(clip.path, "xiaoming", "bench-b")).token
    finally:
        h.close()


def app_token(b: str) -> str:
    from tests.api.conftest import UserAgent, api_user, code_grant

    dev = api_user(b, "benchdev")
    auth = {"Authorization": f"Bearer {dev}"}
    httpx.post(b + "/api/developers", headers=auth, json={"kind": "individual", "display_name": "Bench"})
    app = httpx.post(b + "/api/apps", headers=auth, json={"name": "Bench", "client_type": "confidential",
                     "redirect_uris": ["http://127.0.0.1:9/cb"], "scopes": ["openid", "video.create"]}).json()  # fmt: skip
    api_user(b, "benchuser")
    with UserAgent(b) as ua:
        ua.login("benchuser")
        return code_grant(ua, app, "openid video.create")["access_token"]


def upload(b: str, token: str, data: bytes, workers: int) -> tuple[float, float, str]:
    """(seconds for the parts, seconds for complete, video id)."""
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(timeout=60) as c:
        init = c.post(
            b + "/open/video/init_video_part_upload",
            headers=auth,
            json={"size": len(data), "filename": "v.mp4"},
        ).json()
        size = init["part_size"]

        def put(k: int) -> None:
            part = data[(k - 1) * size : k * size]
            c.post(b + "/open/video/upload_video_part", params={"upload_id": init["upload_id"], "part_number": k}, content=part,
                   headers={**auth, "X-Part-SHA256": hashlib.sha256(part).hexdigest()}).raise_for_status()  # fmt: skip

        t0 = time.perf_counter()
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(put, range(1, init["part_count"] + 1)))
        t1 = time.perf_counter()
        done = c.post(
            b + "/open/video/complete_video_part_upload",
            params={"upload_id": init["upload_id"]},
            headers=auth,
        )
        done.raise_for_status()
        return t1 - t0, time.perf_counter() - t1, done.json()["video_id"]


def bare_floor(data: bytes, folder: Path) -> float:
    async def sink(request: Request):
        with open(folder / "sink.bin", "wb") as f:
            async for chunk in request.stream():
                f.write(chunk)
        return JSONResponse({"ok": True})

    port = free_port()
    with (
        Background(Starlette(routes=[Route("/sink", sink, methods=["POST"])]), port),
        httpx.Client(timeout=60) as c,
    ):
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            c.post(f"http://127.0.0.1:{port}/sink", content=data).raise_for_status()
            best = min(best, time.perf_counter() - t0)
        return best


def main() -> dict:
    from tests.api.conftest import start_server

    data = PAYLOAD.read_bytes()
    mb = len(data) / 1e6
    with tempfile.TemporaryDirectory(prefix="hutong-bench-ingest-") as tmp:
        tmp = Path(tmp)
        pa, pb = free_port(), free_port()
        a_url = f"http://127.0.0.1:{pa}"
        clip, cert = certify(tmp / "a", a_url)
        a = start_server(tmp / "a", port=pa, env={"HUTONG_ISSUER": a_url})
        b = start_server(
            tmp / "b", port=pb, env={"HUTONG_PLATFORM_NAME": "bench-b", "HUTONG_UNCERTIFIED": "reject"}
        )
        try:
            import subprocess
            import sys

            subprocess.run(
                [sys.executable, "-m", "hutong", "interconnect", "trust", a_url],
                env={"HUTONG_HOME": str(tmp / "b"), "PATH": ""},
                check=True,
                capture_output=True,
            )
            token = app_token(b.url)
            results: dict = {"payload_mb": round(mb, 2), "part_mib": 5}
            for workers in (1, 4):
                runs = [upload(b.url, token, data, workers) for _ in range(3)]
                parts = min(r[0] for r in runs)
                results[f"hutong parts, {workers} at a time"] = {"mb_per_s": mb / parts, "seconds": parts,
                                                                 "complete_seconds": statistics.median(r[1] for r in runs)}  # fmt: skip
            floor = bare_floor(data, tmp)
            results["bare Starlette POST to disk (floor)"] = {"mb_per_s": mb / floor, "seconds": floor}
            auth = {"Authorization": f"Bearer {token}"}
            clip_bytes = clip.read_bytes()
            video = upload(b.url, token, clip_bytes, 1)[2]
            latencies = []
            for _ in range(40):
                t0 = time.perf_counter()
                post = httpx.post(
                    b.url + "/open/video/create_video",
                    headers=auth,
                    json={"video_id": video, "certificate": cert},
                    timeout=30,
                ).json()
                latencies.append((time.perf_counter() - t0) * 1000)
                assert post["status"] == "published", post
            q = statistics.quantiles(latencies[1:], n=100)
            results["create_video with certificate"] = {"clip_mb": round(len(clip_bytes) / 1e6, 2), "first_ms": latencies[0],
                                                        "p50_ms": q[49], "p99_ms": q[98], "n": len(latencies) - 1}  # fmt: skip
        finally:
            a.stop()
            b.stop()
    (DOCS / "benchmarks-ingest.json").write_text(json.dumps(results, indent=2))
    write_report()
    return results


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
