"""check → certificate → offline verification, on real media; every bad input of a certificate."""

import base64
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hutong.compliance import c2pa_manifest
from hutong.compliance.certificate import verify_certificate, verify_status
from hutong.errors import CertificateError
from hutong.keys import KeyRing
from hutong.media.synth import run_ffmpeg
from hutong.store import utcnow
from tests.compliance.conftest import grant
from tests.conftest import CHAPLIN


@pytest.fixture
def issued(rights, two_work_clip, clip_report):
    lic = grant(rights, attribution="© Blender Foundation (CC BY)")
    result = rights.compliance.check(two_work_clip.path, "alice", "douyin", report=clip_report)
    assert result.decision.compliant, result.decision.as_dict()
    cert = rights.compliance.certify(result)
    return rights, lic, cert


def test_compliant_clip_certificate_verifies_offline(issued, two_work_clip):
    app, lic, cert = issued
    jwks = json.loads(json.dumps(app.compliance.jwks()))  # only what the issuer publishes
    v = verify_certificate(cert.token, jwks, now=utcnow(), clip=two_work_clip.path)
    assert v.valid and v.code == "valid", v.reason
    c = v.claims
    assert c["sub"] == f"sha256:{c['clip']['sha256']}" and c["iss"] == app.settings.issuer
    assert c["creator"]["handle"] == "alice" and c["platforms"] == ["bilibili", "douyin"]
    assert c["licences"] == [lic.ref] and {w["id"] for w in c["works"]} == {1, 2}
    assert all(s["licence"] == lic.ref for s in c["segments"])
    assert c["attribution"] == {lic.ref: "© Blender Foundation (CC BY)"}
    assert c["exp"] <= datetime(2030, 1, 1, tzinfo=UTC).timestamp()  # never outlives its licence
    assert "revocation not checked" in " ".join(v.notes)
    status = verify_status(app.compliance.status_document(), jwks, now=utcnow())
    assert verify_certificate(cert.token, jwks, now=utcnow(), status=status).code == "valid"


def test_certificate_in_c2pa_manifest(issued, two_work_clip, tmp_path: Path):
    app, _, cert = issued
    keys = app.settings.keys_dir / "c2pa"
    embedded = c2pa_manifest.embed(
        two_work_clip.path, cert.token, tmp_path / "c.mp4", keys_dir=keys, issuer="x"
    )
    read = c2pa_manifest.read(embedded)
    assert read.token == cert.token and read.state == "Valid" and not read.problems
    trusted = c2pa_manifest.read(embedded, trust_anchors=(keys / "ca.pem").read_bytes())
    assert trusted.state == "Trusted"
    # the file's bytes changed (manifest inside) but its media streams did not: still the certified clip
    v = verify_certificate(read.token, app.compliance.jwks(), now=utcnow(), clip=embedded)
    assert v.valid and any("different container" in n for n in v.notes)
    # a byte of picture altered after signing: C2PA's hard binding fails
    data = bytearray(embedded.read_bytes())
    data[len(data) * 2 // 3] ^= 0x55
    tampered = tmp_path / "t.mp4"
    tampered.write_bytes(bytes(data))
    bad = c2pa_manifest.read(tampered)
    assert bad.state == "Invalid" and any("mismatch" in p for p in bad.problems)
    with pytest.raises(CertificateError, match="no C2PA manifest"):
        c2pa_manifest.read(two_work_clip.path)
    with pytest.raises(CertificateError, match="supports"):
        c2pa_manifest.embed(two_work_clip.path, cert.token, tmp_path / "c.webm", keys_dir=keys, issuer="x")
    with pytest.raises(CertificateError, match="new file"):
        c2pa_manifest.embed(two_work_clip.path, cert.token, two_work_clip.path, keys_dir=keys, issuer="x")


def _flip(token: str, part: int) -> str:
    parts = token.split(".")
    raw = json.loads(base64.urlsafe_b64decode(parts[part] + "=" * (-len(parts[part]) % 4)))
    if part == 1:
        raw["platforms"] = ["douyin", "bilibili", "kuaishou"]
    else:
        raw["kid"] = "someone-else"
    parts[part] = base64.urlsafe_b64encode(json.dumps(raw).encode()).decode().rstrip("=")
    return ".".join(parts)


def test_bad_certificates_each_get_their_verdict(issued, two_work_clip, tmp_path: Path):
    app, _, cert = issued
    jwks, now = app.compliance.jwks(), utcnow()
    iat = datetime.fromtimestamp(cert.claims["iat"], UTC)
    cases = {
        "bad-signature": dict(token=_flip(cert.token, 1)),
        "unknown-key": dict(token=_flip(cert.token, 0)),
        "malformed": dict(token="not-a-certificate"),
        "clip-mismatch": dict(clip=CHAPLIN),
        "expired": dict(now=datetime.fromtimestamp(cert.claims["exp"], UTC) + timedelta(hours=1)),
        "not-yet-valid": dict(now=iat - timedelta(minutes=10)),
        "unknown-issuer": dict(jwks={**jwks, "issuer": "https://other.example"}),
    }
    for code, over in cases.items():
        args = {"token": cert.token, "jwks": jwks, "now": now, "clip": two_work_clip.path, **over}
        v = verify_certificate(args.pop("token"), args.pop("jwks"), **args)
        assert v.code == code, (code, v.reason)
        assert not v.valid and v.reason
    # within the clock-skew tolerance a clock slightly behind still accepts it
    assert verify_certificate(cert.token, jwks, now=iat - timedelta(seconds=100)).valid
    # a JWKS from another key ring (same issuer name) does not hold the key
    other = KeyRing(tmp_path / "other").jwks(issuer=app.settings.issuer)
    assert verify_certificate(cert.token, other, now=now).code == "unknown-key"
    # another type of token signed by the same key is not a certificate
    assert verify_certificate(app.compliance.status_document(), jwks, now=now).code == "malformed"


def test_revoking_the_licence_revokes_the_certificate(issued, two_work_clip):
    app, lic, cert = issued
    jwks = app.compliance.jwks()
    _, n = app.licences.revoke(lic.code, reason="rights returned")
    assert n == 1
    status = verify_status(app.compliance.status_document(), jwks, now=utcnow())
    v = verify_certificate(cert.token, jwks, now=utcnow(), clip=two_work_clip.path, status=status)
    assert v.code == "revoked" and "rights returned" in v.reason
    one = verify_status(app.compliance.status_document(cert.claims["jti"]), jwks, now=utcnow())
    assert one["status"] == "revoked"
    assert verify_certificate(cert.token, jwks, now=utcnow(), status=one).code == "revoked"
    # and a new check of the same clip is no longer compliant, for the right reason
    result = app.compliance.check(two_work_clip.path, "alice", "douyin")
    assert {s.rule for s in result.decision.segments} == {"licence-revoked"}


def test_status_documents_that_cannot_be_trusted(issued):
    app, _, _ = issued
    jwks = app.compliance.jwks()
    doc = app.compliance.status_document()
    with pytest.raises(CertificateError, match="expired"):
        verify_status(doc, jwks, now=utcnow() + timedelta(days=2))
    with pytest.raises(CertificateError, match="altered or forged"):
        verify_status(_flip(doc, 1).replace(".", ".", 1), jwks, now=utcnow())
    with pytest.raises(CertificateError, match="rejected"):
        verify_status("a.b", jwks, now=utcnow())


def test_key_rotation_keeps_old_certificates_verifiable(issued, two_work_clip):
    app, _, old = issued
    old_kid = app.compliance.keyring.active_kid()
    new_kid = app.compliance.keyring.rotate()
    assert new_kid != old_kid
    result = app.compliance.check(two_work_clip.path, "alice", "bilibili")
    new = app.compliance.certify(result)
    jwks = app.compliance.jwks()
    assert {k["kid"] for k in jwks["keys"]} == {old_kid, new_kid}
    for cert, kid in ((old, old_kid), (new, new_kid)):
        assert json.loads(base64.urlsafe_b64decode(cert.token.split(".")[0] + "==="))["kid"] == kid
        assert verify_certificate(cert.token, jwks, now=utcnow(), clip=two_work_clip.path).valid


def test_re_encoded_copy_is_rechecked_by_fingerprint(issued, two_work_clip, tmp_path: Path):
    app, lic, cert = issued
    copy = tmp_path / "copy.mp4"
    run_ffmpeg(["-i", str(two_work_clip.path), "-c:v", "libx264", "-crf", "32", "-c:a", "aac", str(copy)])
    v = verify_certificate(cert.token, app.compliance.jwks(), now=utcnow(), clip=copy)
    assert v.code == "clip-mismatch" and "--recheck" in v.reason
    again = app.compliance.recheck(copy, cert.token)
    assert again.code == "valid-copy" and lic.ref in again.reason, again.reason
    cut = tmp_path / "cut.mp4"
    run_ffmpeg(["-i", str(two_work_clip.path), "-t", "8", "-c:v", "libx264", "-c:a", "aac", str(cut)])
    assert app.compliance.recheck(cut, cert.token).code == "clip-mismatch"
    unrelated = tmp_path / "unrelated.mp4"
    shutil.copy(CHAPLIN, unrelated)
    assert not app.compliance.recheck(unrelated, cert.token).valid


def test_no_certificate_for_a_clip_that_is_not_compliant(rights, two_work_clip, clip_report):
    grant(rights, max_segment_seconds=3)
    result = rights.compliance.check(two_work_clip.path, "alice", "douyin", report=clip_report)
    with pytest.raises(CertificateError, match="not compliant.*per-segment limit"):
        rights.compliance.certify(result)
    assert rights.compliance.list() == []
    nothing = rights.compliance.check(CHAPLIN, "alice", "douyin")
    with pytest.raises(CertificateError, match="nothing to certify"):
        rights.compliance.certify(nothing)
