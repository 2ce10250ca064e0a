"""Images signed with Content Credentials, as OpenAI and Azure send them: the fake gateway's
`--signed` switch, and tests that check imggen keeps a provider's signature intact.

A throwaway certificate chain (an EC P-256 test CA and a leaf for signing, made in memory,
never written anywhere) signs each image with c2pa-python: action `c2pa.created`, source type
`trainedAlgorithmicMedia`. Validators then report only that the signer is not trusted
(`signingCredential.untrusted`). Needs the optional extra `imggen[c2pa]`.
"""

from __future__ import annotations

import datetime
import functools
import io
import json
import sys
from collections.abc import Callable
from typing import Any

MISSING = (
    "signed images need the optional extra imggen[c2pa] (pipx inject imggen c2pa-python "
    "cryptography, or pip install '.[c2pa]' from the source)"
)
_TRAINED = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"


def available() -> bool:
    """Whether c2pa-python (and cryptography) can be imported."""
    try:
        import c2pa  # noqa: F401
        import cryptography  # noqa: F401
    except ImportError:
        return False
    return True


@functools.cache
def test_chain() -> tuple[bytes, bytes]:
    """(certificate chain PEM: leaf then CA, leaf private key PEM), made once per process."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "imggen test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.COMMON_NAME, "imggen test signer"),
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "imggen offline gateway"),
                ]
            )
        )
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    chain = leaf.public_bytes(pem) + ca.public_bytes(pem)
    private = key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return chain, private


def _usage(*, cert_sign: bool) -> Any:
    from cryptography import x509

    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def manifest(model: str, *, action: str = "c2pa.created", source: str = _TRAINED) -> str:
    """A C2PA manifest definition as a provider would sign: one action, its source type, the
    software agent that made it."""
    return json.dumps(
        {
            "claim_generator_info": [{"name": "imggen offline gateway", "version": "1"}],
            "title": "generated image",
            "assertions": [
                {
                    "label": "c2pa.actions",
                    "data": {
                        "actions": [
                            {
                                "action": action,
                                "digitalSourceType": source,
                                "softwareAgent": {"name": model},
                            }
                        ]
                    },
                }
            ],
        }
    )


def sign(
    data: bytes, mime: str, model: str, *, chain: bytes | None = None, key: bytes | None = None
) -> bytes:
    """`data` (a PNG, JPEG or WEBP) with Content Credentials signed into it, by the test chain
    unless one is given. Raises ImportError without c2pa-python, ValueError if c2pa refuses."""
    import c2pa

    if chain is None or key is None:
        chain, key = test_chain()
    info = c2pa.C2paSignerInfo(b"es256", chain, key, None)
    signer = c2pa.Signer.from_info(info)
    try:
        with c2pa.Builder(manifest(model)) as builder:
            out = io.BytesIO()
            builder.sign(signer, mime, io.BytesIO(data), out)
            return out.getvalue()
    except c2pa.C2paError as exc:
        raise ValueError(f"c2pa could not sign the image: {exc}") from exc
    finally:
        signer.close()


def signing(model: str = "imggen offline gateway") -> Callable[[bytes, str], bytes]:
    """The fake gateway's `--signed`: each image it serves signed by the test chain. An image
    c2pa cannot parse (the header-only JPEG placeholder) is served unsigned, said on stderr."""
    test_chain()  # made now: the first request should not wait for it

    def sign_one(data: bytes, mime: str) -> bytes:
        try:
            return sign(data, mime, model)
        except ValueError as exc:
            print(f"fake gateway: serving an unsigned {mime}: {exc}", file=sys.stderr)
            return data

    return sign_one
