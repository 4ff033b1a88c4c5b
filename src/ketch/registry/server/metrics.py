"""Request metrics in the Prometheus text exposition format (version 0.0.4), without a client library."""

from __future__ import annotations

import time
from collections import defaultdict

__all__ = ["Metrics"]

_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def _labels(**labels: str) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return "{" + inner + "}"


class Metrics:
    def __init__(self) -> None:
        self.started = time.time()
        self.requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self.bytes_sent: dict[str, int] = defaultdict(int)
        self.bytes_received: dict[str, int] = defaultdict(int)
        self.buckets: dict[str, list[int]] = defaultdict(lambda: [0] * len(_BUCKETS))
        self.duration_sum: dict[str, float] = defaultdict(float)
        self.duration_count: dict[str, int] = defaultdict(int)
        self.in_flight = 0

    def observe(self, method: str, route: str, status: int, seconds: float, sent: int, received: int) -> None:
        self.requests[(method, route, status)] += 1
        self.bytes_sent[route] += sent
        self.bytes_received[route] += received
        counts = self.buckets[route]
        for i, bound in enumerate(_BUCKETS):
            if seconds <= bound:
                counts[i] += 1
        self.duration_sum[route] += seconds
        self.duration_count[route] += 1

    def render(self) -> str:
        out = [
            "# HELP ketch_registry_requests_total Requests served, by method, route and status.",
            "# TYPE ketch_registry_requests_total counter",
        ]
        for (method, route, status), n in sorted(self.requests.items()):
            out.append(
                f"ketch_registry_requests_total{_labels(method=method, route=route, status=str(status))} {n}"
            )
        out += [
            "# HELP ketch_registry_request_duration_seconds Time to serve a request, by route.",
            "# TYPE ketch_registry_request_duration_seconds histogram",
        ]
        for route in sorted(self.duration_count):
            counts = self.buckets[route]
            for bound, n in zip(_BUCKETS, counts, strict=True):
                out.append(
                    f"ketch_registry_request_duration_seconds_bucket{_labels(route=route, le=str(bound))} {n}"
                )
            total = self.duration_count[route]
            out.append(
                f"ketch_registry_request_duration_seconds_bucket{_labels(route=route, le='+Inf')} {total}"
            )
            out.append(
                f"ketch_registry_request_duration_seconds_sum{_labels(route=route)} {self.duration_sum[route]:.6f}"
            )
            out.append(f"ketch_registry_request_duration_seconds_count{_labels(route=route)} {total}")
        for name, table, help_text in (
            ("ketch_registry_bytes_sent_total", self.bytes_sent, "Response body bytes, by route."),
            ("ketch_registry_bytes_received_total", self.bytes_received, "Request body bytes, by route."),
        ):
            out += [f"# HELP {name} {help_text}", f"# TYPE {name} counter"]
            for route, n in sorted(table.items()):
                out.append(f"{name}{_labels(route=route)} {n}")
        out += [
            "# HELP ketch_registry_requests_in_flight Requests being served now.",
            "# TYPE ketch_registry_requests_in_flight gauge",
            f"ketch_registry_requests_in_flight {self.in_flight}",
            "# HELP ketch_registry_start_time_seconds When the server started.",
            "# TYPE ketch_registry_start_time_seconds gauge",
            f"ketch_registry_start_time_seconds {self.started:.3f}",
        ]
        return "\n".join(out) + "\n"
