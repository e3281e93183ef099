"""Per-client rate limits on uploads, with the ``limits`` library (moving windows in memory).

``limits`` was chosen over hand-written counters because it implements the moving-window
algorithm correctly (no burst at a window's edge), parses limits written as text
(``"10/minute"``), reports when a window frees up (for ``Retry-After``), and can keep its
counters in Redis or Memcached when several service processes share the limits.

Two limits apply: ``attempts`` counts the submissions that were accepted for grading (a
file that is not a notebook, or names an unknown assignment, does not count against it),
and ``requests``, much looser, counts every upload, to stop a client that floods the
service with junk.
"""

from __future__ import annotations

import math
import time

from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter


class RateLimits:
    def __init__(self, attempts: str = "10/minute", requests: str = "60/minute"):
        self.limiter = MovingWindowRateLimiter(MemoryStorage())
        self.attempts = parse(attempts)
        self.requests = parse(requests)

    def _retry_after(self, item, client: str) -> int:
        reset, _ = self.limiter.get_window_stats(item, client)
        return max(1, math.ceil(reset - time.time()))

    def request(self, client: str) -> int | None:
        """Count one upload request; seconds to wait when the client is over its limit."""
        if self.limiter.hit(self.requests, client):
            return None
        return self._retry_after(self.requests, client)

    def check_attempt(self, client: str) -> int | None:
        """Seconds to wait when the client has used its attempts, else None (nothing counted)."""
        if self.limiter.test(self.attempts, client):
            return None
        return self._retry_after(self.attempts, client)

    def count_attempt(self, client: str) -> None:
        """An accepted submission: it counts."""
        self.limiter.hit(self.attempts, client)
