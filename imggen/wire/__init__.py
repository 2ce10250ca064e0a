"""The HTTP side: API calls, image downloads, retries, status mapping and reply-body reading."""

import sys

# httpx imports its own command-line client (click, rich, pygments: ~40 ms on a 2-core machine)
# whenever click is installed, which imggen never uses. A None entry makes that optional import
# fail at once, as it does where click is absent; httpx itself is unaffected.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]  # None: "not importable"
