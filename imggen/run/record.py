"""What a run leaves behind besides its images: the price estimate it was planned at and the
history rows of what it saved (imggen/history.py), as the provenance level allows."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from imggen import options

if TYPE_CHECKING:
    from imggen import prices
    from imggen.job import Job
    from imggen.run.core import Plan, RunOptions
    from imggen.run.outcome import Outcome


def estimate(plan: Plan, job: Job, count: int | None = None) -> prices.Estimate:
    """The list-price estimate of the plan's images (or of `count` of them); at the batch
    price for a plan sent through the gateway's batch API."""
    from imggen import prices  # once the images are in, not before the request (issue 26)

    return prices.estimate(
        plan.gateway.model,
        job.count if count is None else count,
        quality=job.quality,
        pixels=plan.requested.pixels,
        batch=plan.batch,
    )


def level(job: Job, opts: RunOptions) -> str:
    """The provenance level the run was asked for: full unless --provenance says less."""
    for holder in (opts, job):
        value = getattr(holder, "provenance", None)
        if isinstance(value, str) and value:
            return value
    return "full"


def log(
    job: Job, plan: Plan, opts: RunOptions, outcome: Outcome, environ: Mapping[str, str]
) -> str | None:
    """Append the outcome's saved images to the history; a warning when it cannot be written
    (a history never fails a run), else None. Nothing when it is turned off."""
    from imggen import history

    if not outcome.saved or not history.enabled(environ, opts.log):
        return None
    n = len(outcome.saved)
    cost = None if outcome.cost is None else outcome.cost / n
    guessed = outcome.estimate
    guess = guessed.per_image if guessed else None
    params: dict[str, Any] = {
        name: _plain(getattr(job, name))
        for name in options.DIGEST
        if hasattr(job, name) and getattr(job, name) not in (None, {})
    }
    params.update({k: v for k, v in outcome.requested.items() if v is not None})
    made = f"{opts.made_by[0]}#{opts.made_by[1]}" if opts.made_by else None
    said = "saved" if outcome.error is None else f"exit {int(outcome.error.exit_code)}"
    now = time.time()
    entries = [
        history.Entry(
            time=now,
            path=s.path if s.path == "-" else os.path.abspath(os.path.join(opts.cwd, s.path)),
            sha256=s.sha256,
            model=plan.gateway.model,
            outcome=said,
            profile=plan.gateway.profile,
            prompt=job.prompt,
            params=params,
            cost=cost,
            estimate=guess,
            currency=outcome.currency
            or (guessed.currency if guessed and guess is not None else None),
            job=" ".join(filter(None, [made, s.job])) or None,  # batch job, provider's job
            provenance=level(job, opts),
        )
        for s in outcome.saved
    ]
    try:
        history.append(environ, entries)
    except Exception as exc:  # sqlite3.Error, OSError: the images are saved all the same
        return f"the history was not written ({history.db_path(environ)}: {exc})"
    return None


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value
