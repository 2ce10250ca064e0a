"""An offline fake image gateway on 127.0.0.1, for trying imggen without an account and for
testing asset pipelines in CI without a key or a bill.

    from imggen.testing import FakeGateway, Fault

    with FakeGateway(api_key="test-key") as gw:
        gw.faults.append(Fault("status", status=429, headers={"Retry-After": "1"}))
        ...  # point imggen at gw.url + "/v1", then look at gw.requests

It speaks the images API (generations, edits), chat completions in every dialect imggen knows,
and a models listing; faults are injected one request at a time. `python -m imggen.testing`
serves it from a shell. Standard library only.
"""

from __future__ import annotations

from imggen.testing.pictures import image_size_of, make_jpeg_header, make_png, make_webp_header
from imggen.testing.protocol import FAULT_KINDS, Fault, FilePart, Recorded
from imggen.testing.server import FakeGateway

__all__ = [
    "FAULT_KINDS",
    "FakeGateway",
    "Fault",
    "FilePart",
    "Recorded",
    "image_size_of",
    "make_jpeg_header",
    "make_png",
    "make_webp_header",
]
