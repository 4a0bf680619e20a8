"""How many relays a worker keeps in flight: additive increase, multiplicative decrease.

A server that is slower than our timeout keeps working on the requests we gave up on, and our
retries arrive on top of them: with a fixed number of parallel relays that never ends (every
request times out). So a sign of overload (a timeout, 429, 503) halves the window, and each
success grows it by 1/window, about one more relay per window of successes, as TCP does.

>>> t = Throttle(16)
>>> t.overloaded(started=1.0, now=2.0), t.slots
(True, 8)
>>> t.overloaded(started=1.5, now=2.1), t.slots  # begun before the cut: the same burst
(False, 8)
>>> for _ in range(9): t.succeeded()
>>> t.slots
9
"""

from __future__ import annotations

import math

__all__ = ["Throttle"]


class Throttle:
    def __init__(self, limit: int):
        self.limit = limit
        self.window = float(limit)
        self._cut_at = -math.inf

    @property
    def slots(self) -> int:
        """Relays that may be in flight now: at least one, so a slow server is still probed."""
        return min(self.limit, max(1, int(self.window)))

    @property
    def throttled(self) -> bool:
        return self.slots < self.limit

    def succeeded(self) -> None:
        self.window = min(float(self.limit), self.window + 1.0 / max(self.window, 1.0))

    def overloaded(self, *, started: float, now: float) -> bool:
        """Halves the window; True if it did. Attempts begun before the last cut belong to the burst
        that caused it, so they cut nothing more."""
        if started <= self._cut_at:
            return False
        self.window = max(1.0, self.window / 2)
        self._cut_at = now
        return True
