"""Every tunable bound in one frozen value: timeouts, size caps, redirects and retry pacing.

Env carries one (Env.limits), so tests pass their own instead of patching module globals.
"""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """How long imggen waits, how much it reads, how often it asks again."""

    connect_timeout: float = 10.0
    # seed 002: 4K + high takes 180-240 s; "建议设置 timeout >= 300s"
    read_timeout: float = 300.0
    # Longest a stream may go without a data event. Keep-alive comments (seeds 001/003) do not
    # count: a gateway can send them forever while its upstream hangs. Above read_timeout, since
    # the first image event of a 4K image may come minutes in.
    event_gap: float = 360.0
    download_cap: int = 200 * MiB  # an image: an image URL's body, or decoded base64
    # A reply body as decompressed (a gzip bomb ends here): room for several images at the cap.
    reply_cap: int = 1024 * MiB
    # What a JSON reply may hold besides its long strings (which go to disk as they arrive):
    # structure and short strings, whitespace not counted, and how many values. Real replies
    # hold a few KiB; at these caps json.loads stays under ~25 MiB (measured: 4 MiB of "0,"
    # takes 23 MiB, of "[]," 100 MiB, hence the count of values).
    json_cap: int = 4 * MiB
    json_values: int = 100_000
    json_text_cap: int = 8 * MiB  # the longest text value (not an image) read into memory
    json_depth: int = 256  # deeper nesting is a malformed reply, not a RecursionError
    error_body_cap: int = 64 * 1024  # what is read of an error reply
    small_json_cap: int = 32 * MiB  # a small JSON reply read whole (the models listing)
    max_redirects: int = 5  # for image URLs; API calls follow none
    backoff_base: float = 0.5  # seconds before the first retry (with jitter)
    backoff_cap: float = 8.0
    retry_after_cap: float = 60.0  # a longer Retry-After fails at once and says so
    input_cap: int = 50 * MiB  # an input image (seed 002: 单文件不超过 50 MB)
    # The whole command (each batch job) unless --timeout says otherwise: a body trickling a
    # byte every few seconds, or a Content-Length that promises more than ever comes, ends
    # here. seed 002: a 4K image takes 180-240 s; this leaves room for one retry of such.
    deadline: float = 600.0
    # and this much more for each further image one call makes in turn (seed 002: Seedream's
    # n is sequential generation, up to 10 images from one request)
    deadline_per_image: float = 120.0
    # Polling a job provider: each provider's module says how often (dialects/jobs/, its
    # cadence); these shorten its first gap and its longest where lower (tests), and pace a
    # poll that has no provider's cadence (a provider batch). At most poll_workers polls in
    # flight at once, whatever the number of jobs.
    poll_first: float = 1.0
    poll_cap: float = 15.0
    poll_workers: int = 8
    key_cmd_timeout: float = 30.0  # api_key_cmd, killed with its process group after this
