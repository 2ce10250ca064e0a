"""python -m imggen.testing: serve the fake gateway on 127.0.0.1 until stopped."""

from __future__ import annotations

import argparse
import signal
import time
from typing import Any

from imggen.testing.server import FakeGateway


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve the fake image gateway on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--key", default=None, help="required API key (default: accept any)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per generation")
    parser.add_argument(
        "--cost", type=float, default=None, help="report this cost (USD) per image as usage.cost"
    )
    args = parser.parse_args(argv)
    gateway = FakeGateway(api_key=args.key, port=args.port, latency=args.latency)
    gateway.cost = args.cost
    gateway.verbose = True

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    # SIGTERM (and SIGINT even when started in the background) stop the server cleanly.
    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)
    with gateway:
        print(gateway.url, flush=True)
        try:
            while True:  # short naps: the signal may land on a server thread
                time.sleep(0.2)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
