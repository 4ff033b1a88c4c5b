"""Per-client request rate limiting (token buckets keyed by remote address): TOOMANYREQUESTS with a
``Retry-After`` when a client exceeds ``rate_limit`` requests per second beyond a burst of ``rate_burst``."""

from __future__ import annotations

import math
import time

__all__ = ["RateLimiter", "retry_after"]

_MAX_CLIENTS = 100_000


class RateLimiter:
    def __init__(self, rate: float, burst: int) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, tuple[float, float]] = {}

    def check(self, client: str, now: float | None = None) -> float:
        """0 when the request may proceed (and is counted); otherwise seconds until it would be allowed."""
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.get(client, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        if tokens >= 1.0:
            self._buckets[client] = (tokens - 1.0, now)
            if len(self._buckets) > _MAX_CLIENTS:
                # bound memory against clients spraying source addresses: forget the fullest buckets
                for key in [k for k, (t, _) in self._buckets.items() if t >= self.burst - 1][
                    : _MAX_CLIENTS // 10
                ]:
                    del self._buckets[key]
            return 0.0
        self._buckets[client] = (tokens, now)
        return (1.0 - tokens) / self.rate


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
