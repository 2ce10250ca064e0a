"""wire.inflate: reply bodies decompressed in bounded pieces, whatever the compression ratio."""

from __future__ import annotations

import zlib
from collections.abc import Iterator

import pytest

from imggen.errors import GatewayFailed
from imggen.wire.inflate import decoded

MiB = 1 << 20


class Raw:
    """The little of httpx.Response that decoded() uses."""

    def __init__(self, body: bytes, encoding: str = "", piece: int = 65536) -> None:
        self.headers = {"content-encoding": encoding} if encoding else {}
        self.is_stream_consumed = False
        self._body = body
        self._piece = piece

    def iter_raw(self) -> Iterator[bytes]:
        for i in range(0, len(self._body), self._piece):
            yield self._body[i : i + self._piece]


def pack(data: bytes, wbits: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    return packer.compress(data) + packer.flush()


def test_a_gzip_bomb_inflates_a_mebibyte_at_a_time() -> None:
    bomb = pack(bytes(64 * MiB), 31)
    assert len(bomb) < 128 * 1024  # one or two network reads
    sizes = [len(piece) for piece in decoded(Raw(bomb, "gzip"))]
    assert sum(sizes) == 64 * MiB
    assert max(sizes) <= MiB


@pytest.mark.parametrize("wbits", [15, -15])  # zlib-wrapped, and the raw deflate some send
def test_deflate_either_way(wbits: int) -> None:
    data = b"imggen " * 100_000
    assert b"".join(decoded(Raw(pack(data, wbits), "deflate", piece=1000))) == data


def test_identity_passes_through() -> None:
    assert b"".join(decoded(Raw(b"abc" * 1000, piece=7))) == b"abc" * 1000


def test_corrupt_gzip_is_the_gateways_fault() -> None:
    with pytest.raises(GatewayFailed, match="gzip reply is corrupt"):
        list(decoded(Raw(b"\x1f\x8b\x08\x00" + b"\xff" * 100, "gzip")))
