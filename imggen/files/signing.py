"""imggen's own Content Credentials: with the optional extra `imggen[c2pa]` and a certificate
chain and key named in the config's `[c2pa]` table, each image that has none is signed after
its record is written (actions c2pa.created / c2pa.edited, the model, the source type), before
it is renamed into place. The key material is read when the first image is signed, kept in
memory only, and never shown: not in errors, not with -v.

    [c2pa]
    cert = "~/.config/imggen/chain.pem"        # or cert_cmd = ["pass", "show", "c2pa/chain"]
    key = "~/.config/imggen/signer.key"        # or key_cmd = ["pass", "show", "c2pa/key"]
    alg = "es256"                              # es256/es384/es512/ps256/ps384/ps512/ed25519
    tsa_url = "http://timestamp.example"       # optional: a time-stamp authority
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from imggen import __version__
from imggen.errors import ConfigError
from imggen.files import xmp

ALGS = ("es256", "es384", "es512", "ps256", "ps384", "ps512", "ed25519")
INSTALL = (
    "install the optional extra imggen[c2pa] (pipx inject imggen c2pa-python cryptography, "
    "or pip install '.[c2pa]' from the source), or remove [c2pa]"
)
_CMD_TIMEOUT = 30.0
_PEM_CAP = 256 << 10


def configured(config: Mapping[str, Any]) -> Signer | None:
    """The signer the config's [c2pa] table names, or None without one. Checks the table and
    that c2pa-python is installed; runs nothing and reads no key yet. Raises ConfigError."""
    table = config.get("c2pa")
    if table is None:
        return None
    if not isinstance(table, Mapping):
        raise ConfigError("[c2pa] in the config file must be a table (cert, key)")
    try:
        import c2pa  # noqa: F401
    except ImportError:
        raise ConfigError(
            "the config names a [c2pa] signing certificate, but c2pa-python is not installed",
            hint=INSTALL,
        ) from None
    for what in ("cert", "key"):
        if not table.get(what) and not table.get(f"{what}_cmd"):
            raise ConfigError(f"[c2pa] needs {what} (a file) or {what}_cmd (a command)")
    alg = str(table.get("alg", "es256")).lower()
    if alg not in ALGS:
        raise ConfigError(f"[c2pa] alg {alg!r} is not one of {', '.join(ALGS)}")
    return Signer(dict(table), alg)


class Signer:
    """Signs images with the [c2pa] certificate; the key is loaded once, on first use."""

    def __init__(self, table: dict[str, Any], alg: str) -> None:
        self._table = table
        self.alg = alg
        self._lock = threading.Lock()
        self._material: tuple[bytes, bytes] | None = None

    def __repr__(self) -> str:  # never the key
        return f"Signer(alg={self.alg!r})"

    def sign(self, src: Path, dst: Path, mime: str, record: Mapping[str, Any]) -> None:
        """Write `src` signed into `dst`. Raises ConfigError (the certificate or key is
        unusable: exit 3)."""
        import c2pa

        chain, key = self._load()
        tsa = self._table.get("tsa_url")
        info = c2pa.C2paSignerInfo(self.alg.encode(), chain, key, tsa.encode() if tsa else None)
        try:
            signer = c2pa.Signer.from_info(info)
        except c2pa.C2paError as exc:
            raise ConfigError(
                f"[c2pa]: the certificate or key cannot sign ({type(exc).__name__})",
                hint="check that cert is the PEM chain (signer first) and key its private key",
            ) from None
        try:
            with c2pa.Builder(manifest(record)) as builder, src.open("rb") as i:
                with dst.open("wb") as o:
                    builder.sign(signer, mime, i, o)
        except c2pa.C2paError as exc:
            raise ConfigError(
                f"[c2pa]: signing failed: {_said(exc)}",
                hint="a certificate needs digitalSignature key usage and an extended key "
                "usage C2PA accepts (e.g. emailProtection); run `imggen inspect` on a file",
            ) from None
        finally:
            signer.close()

    def _load(self) -> tuple[bytes, bytes]:
        with self._lock:
            if self._material is None:
                self._material = (self._read("cert"), self._read("key"))
            return self._material

    def _read(self, what: str) -> bytes:
        cmd = self._table.get(f"{what}_cmd")
        if cmd:
            return _run(what, cmd)
        path = Path(str(self._table[what])).expanduser()
        try:
            with path.open("rb") as f:
                data = f.read(_PEM_CAP + 1)
        except OSError as exc:
            raise ConfigError(f"[c2pa] {what} {path}: {exc.strerror or exc}") from None
        if len(data) > _PEM_CAP or b"-----BEGIN" not in data:
            raise ConfigError(f"[c2pa] {what} {path} is not a PEM file")
        return data


def _said(exc: Exception) -> str:
    """c2pa's message, short; it names no key material (it never sees PEM text as words)."""
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


def _run(what: str, cmd: Any) -> bytes:
    """What `{what}_cmd` prints (a PEM). Its output and errors are never shown."""
    from imggen import secretcmd

    if not isinstance(cmd, list) or not cmd or not all(isinstance(a, str) for a in cmd):
        raise ConfigError(f"[c2pa] {what}_cmd must be a list of strings (an argv)")
    label = f"[c2pa] {what}_cmd {cmd[0]!r}"
    try:
        printed = secretcmd.run(cmd, timeout=_CMD_TIMEOUT, cap=_PEM_CAP)
    except OSError as exc:
        raise ConfigError(f"{label} could not run ({type(exc).__name__})") from None
    out, why, code = printed.out, printed.why, printed.code
    if why or code != 0 or b"-----BEGIN" not in out:
        raise ConfigError(
            f"{label} did not print a PEM {what} ({why or f'exit {code}'})",
            hint="run it yourself to see why; imggen never shows its output",
        )
    return out


def manifest(record: Mapping[str, Any]) -> str:
    """The manifest imggen signs: what it did (created, or edited from input images), with
    which model, and the IPTC source type. Never the prompt."""
    edit = bool(record.get("inputs"))
    source = xmp.COMPOSITE if edit else xmp.TRAINED
    model = str(record.get("model") or "unknown")[:200]
    action = {
        "action": "c2pa.edited" if edit else "c2pa.created",
        "digitalSourceType": source,
        "softwareAgent": {"name": model},
    }
    return json.dumps(
        {
            "claim_generator_info": [{"name": "imggen", "version": __version__}],
            "title": "AI-generated image",
            "assertions": [{"label": "c2pa.actions", "data": {"actions": [action]}}],
        }
    )
