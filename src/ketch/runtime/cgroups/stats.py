"""The ``runc events --stats`` data shape (runc types/events.go), shared by the v1 and v2 managers.

Go's ``omitempty`` is followed: zero numbers, empty lists and maps are left out where runc leaves them out;
nested objects are always present.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["blkio_entry", "empty_stats", "memory_entry", "omit_zero", "parse_cpu_list"]


def empty_stats() -> dict[str, Any]:
    return {
        "cpu": {"usage": {"kernel": 0, "user": 0}, "throttling": {}},
        "cpuset": {
            "cpu_exclusive": 0,
            "mem_hardwall": 0,
            "mem_exclusive": 0,
            "memory_migrate": 0,
            "memory_spread_page": 0,
            "memory_spread_slab": 0,
            "memory_pressure": 0,
            "sched_load_balance": 0,
            "sched_relax_domain_level": 0,
        },
        "memory": {
            "usage": {"limit": 0, "failcnt": 0},
            "swap": {"limit": 0, "failcnt": 0},
            "kernel": {"limit": 0, "failcnt": 0},
            "kernelTCP": {"limit": 0, "failcnt": 0},
        },
        "pids": {},
        "blkio": {},
        "hugetlb": {},
        "intel_rdt": {},
        "network_interfaces": None,
    }


def omit_zero(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v not in (0, None, [], {})}


def memory_entry(limit: int, usage: int, max_usage: int, failcnt: int) -> dict[str, int]:
    out = {"limit": limit, "failcnt": failcnt}
    if usage:
        out["usage"] = usage
    if max_usage:
        out["max"] = max_usage
    return out


def blkio_entry(major: int, minor: int, op: str, value: int) -> dict[str, Any]:
    return omit_zero({"major": major, "minor": minor, "op": op, "value": value})


def parse_cpu_list(text: str) -> list[int]:
    """A cpuset list (``0-3,8``) as numbers."""
    out: list[int] = []
    for part in text.strip().split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out
