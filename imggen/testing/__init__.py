"""An offline fake image gateway on 127.0.0.1, for trying imggen without an account and for
testing asset pipelines in CI without a key or a bill (as moto does for AWS).

Three ways to run it:

- from a shell: ``imggen testing serve`` or ``python -m imggen.testing`` (``[--port N]
  [--key K] [--latency S] [--quiet] [--fault K]``) prints its base URL
  (``http://127.0.0.1:8765/v1``) as the first line of stdout and serves until Ctrl-C or
  SIGTERM;
- as a context manager::

      from imggen.testing import FakeGateway, Fault

      with FakeGateway(api_key="test-key") as gw:
          gw.faults.append(Fault("status", status=429, headers={"Retry-After": "1"}))
          ...  # IMGGEN_BASE_URL=gw.base_url, then look at gw.requests

- as pytest fixtures, ``imggen_gateway`` and ``imggen_env`` (imggen.testing.plugin, registered
  when imggen is installed).

It speaks the images API (``images/generations``, ``images/edits``), chat completions in every
style imggen knows (OpenRouter-style ``modalities`` + ``image_config``, Gemini-style
``imageConfig``, ``extra_body.google.image_config``, replies with links), ``GET models`` and
``GET models/ID``, under ``/v1`` and ``/api/v1`` only (routes.PERSONAS), as strict as the real
APIs: a key in ``Authorization: Bearer``, ``application/json`` bodies, known models and fields,
sizes, ``n`` and masks checked; bodies (``max_body``), pixels, connections and the record
bounded. Images are real PNG, JPEG and WebP files showing the prompt's first words, the size and
the seed (the same seed, the same bytes); an edit frames its input.

Knobs, all plain attributes: ``api_key`` (None takes any key, still required), ``latency``
(seconds per image), ``honour_size`` (False: every image 64x64), ``size`` (every image this
(w, h)), ``noise`` (incompressible pixels), ``image_format`` ("png", "jpeg", "webp"),
``models`` (the listing), ``models_endpoint`` (False: GET models is a 404), ``known_models``
(more model names it serves), ``max_body``, ``records_kept``, ``record_bytes``,
``max_connections``, ``rate_limit`` (a ``ratelimit.RateLimit``: 429 past N requests a period,
with OpenAI's x-ratelimit-* headers or none). It records the newest requests in ``requests``
(``requests_to(suffix)`` filters them; older large bodies are summarised).

Fault switches: ``faults`` is a queue of ``Fault(kind, status=, headers=, seconds=, body=,
path=)``; each is used by the first request it fits, then dropped. Kinds: ``status`` (an error
reply, 500 or ``status``), ``content_filter`` (a 400 content-policy refusal), ``html`` (an HTML
error page), ``bad_json`` (a 200 with cut-off JSON), ``reset`` (half the reply, then a TCP
reset), ``truncate_sse`` (a stream that ends before its image), ``slow`` (16 bytes every
``seconds``), ``stall`` (nothing for ``seconds``, then the reply), ``no_image`` (text and no
image), ``bad_base64``, ``truncated_image``, ``expired`` (an image link answering 403). Standard
library only (the plugin module excepted: pytest loads it).
"""

from __future__ import annotations

from imggen.testing.pictures import (
    image_size_of,
    make_jpeg_header,
    make_png,
    make_webp_header,
    placeholder,
)
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
    "placeholder",
]
