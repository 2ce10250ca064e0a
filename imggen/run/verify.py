"""What the saved image says about the request: a gateway that ignored the size, aspect,
format or background asked is reported (stderr and --json warnings), never hidden."""

from __future__ import annotations

from pathlib import Path

from imggen import sizes
from imggen.files import imagefile
from imggen.job import Job, SavedImage
from imggen.run.outcome import Outcome


def pixels(saved: SavedImage, res: sizes.Resolved, rule: str, outcome: Outcome) -> None:
    """Report, never hide, a gateway that ignored --size or --aspect."""
    if saved.pixels is not None:
        problem = sizes.mismatch(res, rule, saved.pixels)
        if problem:
            why = ": it did not honour the size/aspect asked" if res.pixels else ""
            outcome.mismatches.append(f"{problem} ({saved.path}){why}")
            outcome.warnings.append(outcome.mismatches[-1])


_MIME = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}


def format(saved: SavedImage, job: Job, outcome: Outcome) -> None:
    """Report, never hide, a gateway that ignored --format or a transparent --background (a
    proxy may drop both and return an opaque PNG)."""
    if job.format and saved.mime != _MIME.get(job.format, saved.mime):
        outcome.warnings.append(
            f"asked for {job.said('format')} but the gateway returned {saved.mime} "
            f"({saved.path}): it did not honour the format asked"
        )
    if job.background == "transparent" and saved.path != "-":
        if imagefile.has_alpha(Path(saved.path)) is False:
            outcome.warnings.append(
                f"asked for {job.said('background')} but the gateway returned an image with "
                f"no transparency ({saved.path}): it did not honour the background asked"
            )
