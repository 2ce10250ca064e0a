"""Which way a terminal can show an image, from its environment alone.

No query is sent to the terminal (a device-attributes query could swallow what the user types
while it waits); IMGGEN_PREVIEW=kitty|iterm|sixel|blocks overrides the guess. Inside tmux the
escapes reach the outer terminal only through passthrough (`set -g allow-passthrough on`), which
imggen cannot see: it draws half-blocks there unless IMGGEN_PREVIEW names a protocol, which is
then wrapped for passthrough. Sources: references on kitty's graphics protocol, iTerm2's inline
images and sixel (shared/references/terminal-images.md)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

PROTOCOLS = ("kitty", "iterm", "sixel", "blocks")
OVERRIDE = "IMGGEN_PREVIEW"

_KITTY_TERMS = ("xterm-kitty", "xterm-ghostty")
_KITTY_PROGRAMS = ("ghostty", "kitty")
_ITERM_PROGRAMS = ("iterm.app", "wezterm", "mintty", "rio", "warpterminal")
_SIXEL_TERMS = ("foot", "foot-extra", "mlterm", "contour", "xterm-sixel")


@dataclass(frozen=True)
class How:
    protocol: str  # one of PROTOCOLS
    tmux: bool = False  # wrap every escape for tmux's passthrough
    why: str = ""

    def __str__(self) -> str:
        return f"{self.protocol}{' via tmux passthrough' if self.tmux else ''} ({self.why})"


def choose(environ: Mapping[str, str]) -> How:
    """The protocol for this terminal: IMGGEN_PREVIEW, else the environment's word."""
    tmux = bool(environ.get("TMUX"))
    forced = environ.get(OVERRIDE, "").strip().lower()
    if forced in PROTOCOLS:
        return How(forced, tmux and forced != "blocks", f"{OVERRIDE}={forced}")
    if tmux:
        return How("blocks", why="inside tmux; IMGGEN_PREVIEW=kitty|iterm|sixel to pass through")
    term = environ.get("TERM", "").lower()
    program = environ.get("TERM_PROGRAM", "").lower()
    if environ.get("KITTY_WINDOW_ID") or term in _KITTY_TERMS or program in _KITTY_PROGRAMS:
        return How("kitty", why=f"TERM={term}" if term in _KITTY_TERMS else "kitty")
    if environ.get("KONSOLE_VERSION"):
        return How("kitty", why="Konsole")
    if environ.get("LC_TERMINAL", "").lower() == "iterm2" or program in _ITERM_PROGRAMS:
        return How("iterm", why=f"TERM_PROGRAM={program or 'iTerm2'}")
    if term.split("-")[0] in _SIXEL_TERMS or term in _SIXEL_TERMS:
        return How("sixel", why=f"TERM={term}")
    if environ.get("WT_SESSION"):
        return How("sixel", why="Windows Terminal")
    if program == "vscode":
        return How("sixel", why="VS Code (terminal.integrated.enableImages)")
    return How("blocks", why="no image protocol known for this terminal")
