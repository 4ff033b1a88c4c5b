"""v2 cpu controller: cpu.weight (from shares, as runc converts), cpu.max, cpu.max.burst, cpu.idle."""

from __future__ import annotations

from ketch.runtime.cgroups import fsio
from ketch.runtime.cgroups.errors import CgroupConfigError
from ketch.runtime.cgroups.fields import PREFIX, opt_dict, opt_int, unset_if_zero

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ketch.runtime.cgroups.fields import Resources, Warn

CONTROLLER = "cpu"
F = f"{PREFIX}.cpu"
KEYS = ("shares", "quota", "period", "realtimeRuntime", "realtimePeriod", "idle", "burst")


def wanted(res: Resources) -> bool:
    cpu = opt_dict(res, "cpu", PREFIX)
    return any(cpu.get(k) is not None for k in KEYS)


def shares_to_weight(shares: int) -> int:
    """v1 cpu.shares [2, 262144] -> v2 cpu.weight [1, 10000], linearly (runc's conversion)."""
    if shares == 0:
        return 0
    return 1 + ((shares - 2) * 9999) // 262142


def cpu_max(quota: int | None, period: int | None) -> str | None:
    """The cpu.max text: ``$QUOTA $PERIOD``, ``max`` for no quota; None when neither is set."""
    if quota is None and period is None:
        return None
    text = str(quota) if quota is not None and quota > 0 else "max"
    if period is not None:
        text += f" {period}"
    return text


def apply(path: str, res: Resources, warn: Warn) -> None:
    cpu = opt_dict(res, "cpu", PREFIX)
    shares = unset_if_zero(opt_int(cpu, "shares", F, maximum=262144))
    if shares is not None and shares < 2:
        raise CgroupConfigError(f"{F}.shares: {shares} is below the minimum 2")
    quota = unset_if_zero(opt_int(cpu, "quota", F, minimum=-1))
    period = unset_if_zero(opt_int(cpu, "period", F, minimum=0))
    idle = opt_int(cpu, "idle", F, minimum=0, maximum=1)
    burst = opt_int(cpu, "burst", F, minimum=0)
    for key in ("realtimeRuntime", "realtimePeriod"):
        if unset_if_zero(opt_int(cpu, key, F)) is not None:
            raise CgroupConfigError(f"{F}.{key}: cgroup v2 has no realtime group scheduling")
    if shares is not None:
        fsio.write(path, "cpu.weight", shares_to_weight(shares), f"{F}.shares")
    text = cpu_max(quota, period)
    if text is not None:
        fsio.write(path, "cpu.max", text, f"{F}.quota" if quota is not None else f"{F}.period")
    if burst is not None:
        fsio.write(path, "cpu.max.burst", burst, f"{F}.burst")
    if idle is not None:
        fsio.write(path, "cpu.idle", idle, f"{F}.idle")


def stats(path: str, out: dict[str, Any]) -> None:
    st = fsio.read_keyed(path, "cpu.stat")
    usage = out["cpu"]["usage"]
    if st.get("usage_usec"):
        usage["total"] = st["usage_usec"] * 1000
    usage["user"] = st.get("user_usec", 0) * 1000
    usage["kernel"] = st.get("system_usec", 0) * 1000
    out["cpu"]["throttling"] = {
        k: v
        for k, v in (
            ("periods", st.get("nr_periods", 0)),
            ("throttledPeriods", st.get("nr_throttled", 0)),
            ("throttledTime", st.get("throttled_usec", 0) * 1000),
        )
        if v
    }
