"""python -m imggen.testing: serve the offline fake gateway on 127.0.0.1 until stopped.

The first line of stdout is the base URL to give imggen (IMGGEN_BASE_URL or a profile's
base_url); requests are logged to stderr, one line each, unless --quiet.
"""

from __future__ import annotations

import argparse
import errno
import signal
import sys
import time
from typing import Any

from imggen.testing import jobs, ratelimit
from imggen.testing.models import litellm_alias
from imggen.testing.protocol import FAULT_KINDS, Fault
from imggen.testing.ratelimit import STYLES, RateLimit
from imggen.testing.server import FakeGateway

DEFAULT_PORT = 8765
DESCRIPTION = """\
Serve an offline fake image gateway on 127.0.0.1 until stopped (Ctrl-C or
SIGTERM): the OpenAI images API (with DALL-E rules and streamed partial images),
OpenRouter's Image API and its image models list, chat completions in every
style imggen speaks, and a models listing; --alias makes it a LiteLLM-style
proxy. Its base URL (ending in /v1; /api/v1 serves the same) is the first line
of stdout; each request is logged on stderr. Every request needs a key, as
Authorization: Bearer KEY (any key, or only --key's). With ROOT that URL without
its /v1, it also speaks Google's Gemini API (ROOT/v1beta) and Vertex AI
(ROOT/v1/projects/P/locations/L/publishers/google), Azure OpenAI (ROOT/openai or
ROOT/openai/v1; deployment my-images unless --deployment), Together, xAI and
Recraft (ROOT/together/v1, ROOT/xai/v1, ROOT/recraft/v1), the job providers
fal, Replicate and Black Forest Labs (ROOT/fal, ROOT/replicate, ROOT/bfl), and
the batch APIs of OpenAI (/v1/batches) and Gemini (ROOT/v1beta/batches), each
key checked its provider's way."""
EXAMPLES = """\
Examples:
  PROG --quiet &        # then: kill %1
  PROG --port 0 --key test-key --latency 2
  PROG --fault status:429 --fault reset
  PROG --alias company-image=gpt-image-1   # LiteLLM-style
  PROG --deployment prod-images=gpt-image-1 --refuse-safety
  PROG --rate-limit 600/min --latency 0.3   # a rate limit

fault kinds (each fails the next request it fits, in the order given):
  status[:CODE]      an error reply, 500 unless CODE (429, 503, 401, ...)
  content_filter     a 400 content-policy refusal
  html[:CODE]        an HTML error page, 502 unless CODE
  bad_json           a 200 whose JSON is cut off
  reset              half the reply, then the connection is reset
  truncate_sse       a stream that ends before its image
  slow[:SECONDS]     the reply 16 bytes at a time, one piece every SECONDS (0.1)
  stall[:SECONDS]    nothing for SECONDS (5), then the reply
  no_image           a reply with text and no image
  bad_base64         an image that is not valid base64
  truncated_image    half an image
  expired[:CODE]     an image link answers 403 (or CODE), in replies with links
  stream_error       a streamed image request ends in an error event, no image
"""


def parse_fault(text: str) -> Fault:
    """A Fault from KIND[:VALUE]: VALUE is the status of status/html/expired, the seconds of
    slow/stall. Raises argparse.ArgumentTypeError naming the kinds."""
    kind, _, value = text.partition(":")
    if kind not in FAULT_KINDS:
        raise argparse.ArgumentTypeError(f"unknown fault {kind!r}; kinds: {', '.join(FAULT_KINDS)}")
    if not value:
        return Fault(kind, seconds=5.0 if kind == "stall" else 0.1 if kind == "slow" else 0)
    try:
        if kind in ("slow", "stall"):
            return Fault(kind, seconds=float(value))
        if kind in ("status", "html", "expired"):
            return Fault(kind, status=int(value))
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"bad value {value!r} for fault {kind!r}")


# what LiteLLM drops for GPT image deployments (shared/references/litellm-proxy.md)
LITELLM_DROPS = ("output_format", "background", "output_compression", "moderation")


def parse_alias(text: str) -> tuple[str, str]:
    name, _, model = text.partition("=")
    if not name or not model:
        raise argparse.ArgumentTypeError(f"expected NAME=MODEL, not {text!r}")
    return name, model


def parse_rate(text: str) -> tuple[int, float]:
    try:
        return ratelimit.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parser(prog: str = "python -m imggen.testing") -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(
        prog=prog,
        description=DESCRIPTION,
        epilog=EXAMPLES.replace("PROG", prog),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cli.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        metavar="N",
        help=f"port to listen on [{DEFAULT_PORT}]; 0 picks a free one",
    )
    cli.add_argument("--key", metavar="KEY", help="the only API key accepted [any key]")
    cli.add_argument(
        "--latency",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="how long each image takes to make [0]",
    )
    cli.add_argument(
        "--cost",
        type=float,
        default=None,
        metavar="USD",
        help="report this cost per image as usage.cost, as OpenRouter does [none]",
    )
    cli.add_argument(
        "--alias",
        action="append",
        default=[],
        type=parse_alias,
        metavar="NAME=MODEL",
        help="serve NAME as a LiteLLM proxy does: listed in /v1/models without a mode and in "
        "/model_group/info with mode image_generation, answered by MODEL, "
        "output_format/background/output_compression/moderation dropped (repeatable)",
    )
    _provider_options(cli)
    cli.add_argument("--quiet", action="store_true", help="do not log requests on stderr")
    cli.add_argument(
        "--fault",
        type=parse_fault,
        action="append",
        default=[],
        metavar="KIND[:VALUE]",
        help="fail the next request it fits (repeatable; kinds below)",
    )
    jobs.add_arguments(cli)
    return cli


def _provider_options(cli: argparse.ArgumentParser) -> None:
    """Switches of the providers beyond OpenAI's shape, and of how a gateway paces clients."""
    cli.add_argument(
        "--signed",
        action="store_true",
        help="sign every image with Content Credentials (a throwaway test certificate), as "
        "OpenAI and Azure do; needs pip install 'imggen[c2pa]'",
    )
    cli.add_argument(
        "--deployment",
        action="append",
        default=[],
        type=parse_alias,
        metavar="NAME=MODEL",
        help="an Azure OpenAI deployment NAME of MODEL (repeatable) [my-images=gpt-image-1]",
    )
    cli.add_argument(
        "--refuse-safety",
        action="store_true",
        help="refuse every Google, Azure, Together, xAI and Recraft generation for safety, "
        "in each provider's own words",
    )
    cli.add_argument(
        "--rate-limit",
        type=parse_rate,
        metavar="N/PERIOD",
        help="answer 429 past N requests a PERIOD (600/min, 10/s), at most a second's worth "
        "at once, with OpenAI's x-ratelimit-* headers on every answer [no limit]",
    )
    cli.add_argument(
        "--rate-headers",
        choices=STYLES,
        default="openai",
        help="what answers say of the limit: OpenAI's headers, only Retry-After on a 429, or "
        "nothing [openai]",
    )


def main(argv: list[str] | None = None, prog: str = "python -m imggen.testing") -> int:
    """Serve until stopped; the exit status (argparse exits 2 itself on a bad option)."""
    args = parser(prog).parse_args(argv)
    gateway = FakeGateway(api_key=args.key, port=args.port, latency=args.latency)
    gateway.verbose = not args.quiet
    gateway.faults.extend(args.fault)
    gateway.cost = args.cost
    if args.signed:
        from imggen.testing import signed

        if not signed.available():
            print(f"error: --signed: {signed.MISSING}", file=sys.stderr)
            return 2
        gateway.signer = signed.signing()
    gateway.refuse_safety = args.refuse_safety
    if args.deployment:
        gateway.deployments = dict(args.deployment)
    jobs.configure(gateway.jobs, args)
    if args.rate_limit:
        gateway.rate_limit = RateLimit(*args.rate_limit, style=args.rate_headers)
    for name, model in args.alias:
        litellm_alias(gateway, name, model)
        gateway.drops = LITELLM_DROPS

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    # SIGTERM (and SIGINT even when started in the background) stop the server cleanly.
    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)
    try:
        gateway.start()
    except OSError as exc:
        busy = exc.errno == errno.EADDRINUSE
        why = f"port {args.port} is in use" if busy else str(exc)
        print(f"error: cannot listen on 127.0.0.1: {why}", file=sys.stderr)
        print("hint: pass --port 0 for a free port, or stop what holds it", file=sys.stderr)
        return 1
    try:
        print(gateway.base_url, flush=True)
        if not args.quiet:
            key = "only the key --key gave" if args.key else "any key"
            print(
                f"fake gateway: serving {gateway.base_url} (takes {key}, as "
                "Authorization: Bearer KEY); "
                "Ctrl-C or SIGTERM stops it",
                file=sys.stderr,
                flush=True,
            )
        while True:  # short naps: the signal may land on a server thread
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        gateway.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
