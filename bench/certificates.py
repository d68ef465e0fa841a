"""Certificate verification benchmark: ``python -m bench.certificates``.

Issues one real certificate (sample works registered, a 二创 clip built and checked, licence granted),
then counts offline verifications per second on one core (the process is pinned to CPU 0):

- hutong's full verification (parse, issuer, key lookup, Ed25519 signature, claims, times, revocation
  list), with and without hashing the clip file itself;
- peers in the same run: the same claims as a JWS signed with ES256 (P-256) and RS256 (RSA-2048)
  through joserfc, the bare Ed25519 signature check in `cryptography` (the floor), and reading the
  certificate back from the clip's C2PA manifest with c2pa-python (the in-media route).

Writes docs/benchmarks-certificates.json and regenerates docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from joserfc import jws
from joserfc.jwk import ECKey, KeySet, RSAKey

from bench.report import write_report
from hutong.app import Hutong
from hutong.cli.demo import SAMPLES, WORKS
from hutong.compliance import c2pa_manifest
from hutong.compliance.certificate import CERT_TYPE, peek, verify_certificate
from hutong.config import get_settings
from hutong.media.synth import Piece, build_clip
from hutong.rights import LicenceTerms
from hutong.store import utcnow

DOCS = Path(__file__).resolve().parent.parent / "docs"


def rate(fn, n: int, repeats: int = 3) -> float:
    """Best of ``repeats`` runs of ``n`` calls, in calls per second."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, time.perf_counter() - t0)
    return n / best


def issue(home: Path):
    h = Hutong.create(get_settings(home=home))
    for name, title, holder in WORKS[:2]:
        h.catalogue.add_one(SAMPLES / name, title=title, holder=holder, check_duplicates=False)
    clip = build_clip(
        [Piece(SAMPLES / "bbb_30s.mp4", 5.0, 8.0, ("grade",), seed=1), Piece(SAMPLES / "sintel_trailer.mp4", 14.0, 7.0, ("mirror",), seed=2)],
        home / "clip.mp4",
    )  # fmt: skip
    h.creators.add("alice", verified=True)
    terms = {"works": [1, 2], "scope": {"kind": "verified"}, "platforms": ["douyin", "bilibili"],
             "valid_from": "2026-01-01", "valid_until": "2030-01-01", "attribution": "© Blender Foundation"}  # fmt: skip
    h.licences.grant("Blender Foundation", LicenceTerms.parse(terms))
    result = h.compliance.check(clip.path, "alice", "douyin")
    cert = h.compliance.certify(result)
    # 100 revoked certificates in the status list, so the revocation lookup is not trivially empty
    for _ in range(100):
        extra = h.compliance.certify(result)
        h.compliance.revoke(extra.claims["jti"], "benchmark filler")
    return h, clip.path, cert


def main(n: int) -> dict:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})
    with tempfile.TemporaryDirectory(prefix="hutong-bench-cert-") as tmp:
        home = Path(tmp)
        h, clip, cert = issue(home)
        try:
            jwks, status, now = h.compliance.jwks(), h.compliance.status_claims(), utcnow()
            assert verify_certificate(cert.token, jwks, now=now, clip=clip, status=status).valid
            token = cert.token
            results: dict = {"token_bytes": len(token), "clip_bytes": clip.stat().st_size, "n": n}
            results["hutong (Ed25519, full offline verification)"] = rate(
                lambda: verify_certificate(token, jwks, now=now, status=status), n
            )
            results["hutong + SHA-256 of the clip file"] = rate(
                lambda: verify_certificate(token, jwks, now=now, clip=clip, status=status), max(50, n // 20)
            )
            _, claims = peek(token)
            payload = json.dumps(claims, separators=(",", ":"), sort_keys=True).encode()
            for label, key, alg in (
                (
                    "joserfc ES256 (P-256), same claims",
                    ECKey.generate_key("P-256", parameters={"kid": "e"}),
                    "ES256",
                ),
                (
                    "joserfc RS256 (RSA-2048), same claims",
                    RSAKey.generate_key(2048, parameters={"kid": "r"}),
                    "RS256",
                ),
            ):
                signed = jws.serialize_compact({"alg": alg, "kid": key.kid, "typ": CERT_TYPE}, payload, key)
                keyset = KeySet.import_key_set({"keys": [key.as_dict(private=False)]})
                results[label] = rate(
                    lambda s=signed, k=keyset, a=alg: jws.deserialize_compact(s, k, algorithms=[a]), n
                )
            pub = h.compliance.keyring.private_key(h.compliance.keyring.active_kid()).public_key
            head, body, sig = token.split(".")
            import base64

            raw_sig = base64.urlsafe_b64decode(sig + "==")
            signing_input = f"{head}.{body}".encode()
            results["bare Ed25519 signature check (cryptography)"] = rate(
                lambda: pub.verify(raw_sig, signing_input), n
            )
            embedded = c2pa_manifest.embed(
                clip, token, home / "c2pa.mp4", keys_dir=home / "keys" / "c2pa", issuer="bench"
            )
            results["C2PA manifest read + validate (c2pa-python)"] = rate(
                lambda: c2pa_manifest.read(embedded), max(20, n // 50)
            )
        finally:
            h.close()
    out = DOCS / "benchmarks-certificates.json"
    out.write_text(json.dumps(results, indent=2))
    write_report()
    return results


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=5000, help="verifications per timed run")
    for k, v in main(ap.parse_args().n).items():
        print(f"{k}: {v:,.0f}" if isinstance(v, float) else f"{k}: {v}")
