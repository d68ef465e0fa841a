"""The certificate inside the media: a C2PA manifest with a custom ``org.hutong.certificate`` assertion.

C2PA's own signature (ES256, X.509 chain) proves the manifest is bound to these exact bytes; the hutong
certificate inside it says what licences cover the clip. The X.509 chain is a private CA made on first use
in ``HUTONG_HOME/keys/c2pa/``: readers see it as ``signingCredential.untrusted`` unless they add
``ca.pem`` as a trust anchor (``--c2pa-trust``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import c2pa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hutong import __version__
from hutong.errors import CertificateError
from hutong.keys import write_private
from hutong.store import utcnow

LABEL = "org.hutong.certificate"
MIME = {".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime", ".m4a": "audio/mp4"}


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "hutong")]
    )


def _usage(*, sign: bool, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=sign, content_commitment=False, key_encipherment=False, data_encipherment=False,
        key_agreement=False, key_cert_sign=ca, crl_sign=ca, encipher_only=False, decipher_only=False,
    )  # fmt: skip


def ensure_chain(folder: Path, issuer: str) -> tuple[bytes, bytes, bytes]:
    """(signer chain PEM, signer key PEM, CA PEM); made once: a CA and an ES256 end-entity for C2PA."""
    chain, key, ca = folder / "signer.pem", folder / "signer.key", folder / "ca.pem"
    if not (chain.exists() and key.exists() and ca.exists()):
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        now = utcnow()
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = (
            x509.CertificateBuilder().subject_name(_name(f"hutong C2PA CA ({issuer})")).issuer_name(_name(f"hutong C2PA CA ({issuer})"))
            .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_usage(sign=False, ca=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )  # fmt: skip
        ee_key = ec.generate_private_key(ec.SECP256R1())
        ee_cert = (
            x509.CertificateBuilder().subject_name(_name(f"hutong certificate issuer ({issuer})")).issuer_name(ca_cert.subject)
            .public_key(ee_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=3 * 365))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_usage(sign=True, ca=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )  # fmt: skip
        pem = serialization.Encoding.PEM
        ca.write_bytes(ca_cert.public_bytes(pem))
        chain.write_bytes(ee_cert.public_bytes(pem) + ca_cert.public_bytes(pem))
        pkcs8 = serialization.PrivateFormat.PKCS8
        write_private(key, ee_key.private_bytes(pem, pkcs8, serialization.NoEncryption()).decode())
    return chain.read_bytes(), key.read_bytes(), ca.read_bytes()


def _mime(path: Path) -> str:
    mime = MIME.get(path.suffix.lower())
    if mime is None:
        raise CertificateError(
            f"{path}: C2PA embedding supports {', '.join(sorted(MIME))} files, not {path.suffix or 'no suffix'}"
        )
    return mime


def embed(clip: Path, token: str, out: Path, *, keys_dir: Path, issuer: str) -> Path:
    """Write ``out``: ``clip`` with a signed C2PA manifest carrying the certificate."""
    _mime(clip)
    _mime(out)
    if out.resolve() == clip.resolve():
        raise CertificateError("write the C2PA copy to a new file: the certified clip must stay as it is")
    chain, key, _ = ensure_chain(keys_dir, issuer)
    manifest = {
        "claim_generator_info": [{"name": "hutong", "version": __version__}],
        "title": clip.name,
        "assertions": [
            # C2PA requires the first action to say how the asset came to be
            {"label": "c2pa.actions", "data": {"actions": [{"action": "c2pa.created", "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/compositeCapture"}]}},
            {"label": LABEL, "data": {"certificate": token, "issuer": issuer, "jwks": f"{issuer}/.well-known/jwks.json"}},
        ],
    }  # fmt: skip
    tmp = out.with_name(out.name + ".part")
    try:
        signer = c2pa.Signer.from_info(
            c2pa.C2paSignerInfo(alg=b"es256", sign_cert=chain, private_key=key, ta_url=None)
        )
        with c2pa.Builder(json.dumps(manifest)) as builder:
            builder.sign_file(str(clip), str(tmp), signer)
        tmp.replace(out)
    except c2pa.C2paError as exc:
        raise CertificateError(f"{clip}: C2PA signing failed ({' '.join(str(exc).split())[:200]})") from None
    finally:
        tmp.unlink(missing_ok=True)
    return out


@dataclass
class Embedded:
    token: str
    state: str  # C2PA's validation state: Trusted, Valid or Invalid
    problems: list[str] = field(default_factory=list)
    signer: str = ""


def read(path: Path, *, trust_anchors: bytes | None = None) -> Embedded:
    """The certificate from the active C2PA manifest, with C2PA's own verdict on the file's integrity."""
    _mime(path)
    if not path.is_file():
        raise CertificateError(f"{path}: no such file")
    settings: dict = {"verify": {"verify_trust": bool(trust_anchors)}}
    if trust_anchors:
        settings["trust"] = {"trust_anchors": trust_anchors.decode()}
    try:
        context = c2pa.Context(c2pa.Settings.from_dict(settings))
        with c2pa.Reader(str(path), context=context) as reader:
            store = json.loads(reader.json())
    except c2pa.C2paError as exc:
        text = " ".join(str(exc).split())
        if "ManifestNotFound" in text or "JumbfNotFound" in text:
            raise CertificateError(f"{path}: no C2PA manifest in this file") from None
        raise CertificateError(f"{path}: unreadable C2PA manifest ({text[:200]})") from None
    active = store.get("manifests", {}).get(store.get("active_manifest") or "", {})
    data = next((a.get("data", {}) for a in active.get("assertions", []) if a.get("label") == LABEL), None)
    if not data or not isinstance(data.get("certificate"), str):
        raise CertificateError(f"{path}: its C2PA manifest carries no hutong certificate")
    problems = [
        f"{s.get('code')}: {s.get('explanation', '')}" for s in store.get("validation_status", []) or []
    ]
    if not trust_anchors:  # an untrusted private CA is expected without anchors; say so, don't fail on it
        problems = [p for p in problems if not p.startswith("signingCredential.untrusted")]
    state = store.get("validation_state", "Invalid" if problems else "Valid")
    return Embedded(
        data["certificate"], state, problems, active.get("signature_info", {}).get("common_name", "")
    )
