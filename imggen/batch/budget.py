"""--max-cost across a batch's workers: a job starts only when what was spent, what the jobs
in flight are expected to cost and its own expected cost stay within the budget.

The expected cost of a job is imggen's list-price estimate where it knows one, else the most a
job of this run has cost so far (what the gateway reported). Until one job has reported a cost
there is nothing to expect, so the first job runs alone: four workers starting at once
against a budget of 0.1 at 0.04 an image would spend 0.16
before any of them knew. A cost that cannot be counted (NaN, infinite, negative, not a number)
stops the run as over budget: a budget that cannot be checked is not kept by going on."""

from __future__ import annotations

import threading

_SLACK = 1e-9  # float sums: 0.1 + 0.2 must not pass a budget of 0.3


def money(amount: float, currency: str | None = None) -> str:
    """An amount as people write it: 0.05 USD, 1.2 (no currency known), 0."""
    text = f"{amount:.6f}".rstrip("0").rstrip(".")
    return f"{text} {currency}" if currency else text


class Budget:
    """Shared by the workers of one run: admit() before a job is sent, settle() after."""

    def __init__(self, limit: float | None) -> None:
        self.limit = limit
        self.spent = 0.0
        self._reserved = 0.0
        self._expected: float | None = None
        self._running = 0
        self._unpriced = False  # a job saved without a reported cost: nothing to expect
        self._stopped: str | None = None  # why no job may start any more
        self._cond = threading.Condition()

    def admit(
        self, stop: threading.Event, estimate: float | None = None
    ) -> tuple[str | None, float]:
        """(None, reserved) when a job may start, having reserved its expected cost (its
        list-price `estimate` where known); else (why not, 0), or ("", 0) once `stop` is set
        (the run is stopping: not started)."""
        if self.limit is None:
            return None, 0.0
        with self._cond:
            while True:
                if stop.is_set():
                    return "", 0.0  # the run is stopping (--fail-fast): not started
                if self._stopped:
                    return self._stopped, 0.0
                guessing = estimate is None and self._expected is None
                if guessing and self._running and not self._unpriced:
                    self._cond.wait(0.1)
                    continue
                expect = estimate if estimate is not None else self._expected or 0.0
                if self.spent + self._reserved + expect > self.limit + _SLACK or (
                    self.spent >= self.limit - _SLACK
                ):
                    return self._over(expect), 0.0
                self._reserved += expect
                self._running += 1
                return None, expect

    def _over(self, expect: float) -> str:
        limit = self.limit or 0.0
        if self.spent >= limit - _SLACK:
            return f"--max-cost {money(limit)} reached: {money(self.spent)} spent"
        return (
            f"--max-cost {money(limit)}: {money(self.spent)} spent, "
            f"{money(self._reserved)} on jobs running; one more (about {money(expect)}) "
            "would pass it"
        )

    def settle(
        self,
        reserved: float,
        cost: float | None,
        *,
        saved: bool,
        unusable: str,
        estimate: float | None = None,
    ) -> None:
        """A job admitted with `reserved` ended: count what it cost (what the gateway reported,
        else imggen's estimate of the images it saved); an unusable reported cost (its text in
        `unusable`) stops the run as over budget."""
        if self.limit is None:
            return
        with self._cond:
            self._running -= 1
            self._reserved = max(0.0, self._reserved - reserved)
            if cost is None and saved and not unusable:
                cost = estimate
            if cost is not None:
                self.spent = round(self.spent + cost, 10)
                self._expected = max(self._expected or 0.0, cost)
            elif saved and not unusable:
                self._unpriced = True
            if unusable and not self._stopped:
                self._stopped = (
                    f"--max-cost {money(self.limit)}: the gateway reported a cost of "
                    f"{unusable}, which cannot be counted; stopped as over budget"
                )
            self._cond.notify_all()
