"""v1 cpu controller: shares, CFS quota/period/burst, realtime runtime/period, idle (config-linux.md "CPU")."""

from __future__ import annotations

from ketch.runtime.cgroups import fsio
from ketch.runtime.cgroups.errors import CgroupConfigError
from ketch.runtime.cgroups.fields import PREFIX, opt_dict, opt_int, unset_if_zero

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ketch.runtime.cgroups.fields import Resources, Warn

HIERARCHY = "cpu"
F = f"{PREFIX}.cpu"
KEYS = ("shares", "quota", "period", "realtimeRuntime", "realtimePeriod", "idle", "burst")


def wanted(res: Resources) -> bool:
    cpu = opt_dict(res, "cpu", PREFIX)
    return any(cpu.get(k) is not None for k in KEYS)


def _write_period(path: str, period: int) -> bool:
    """Write the CFS period; False when the kernel refused it only because the old quota no longer fits."""
    try:
        fsio.write(path, "cpu.cfs_period_us", period, f"{F}.period")
    except CgroupConfigError:
        return False
    return True


def apply(path: str, res: Resources, warn: Warn) -> None:
    cpu = opt_dict(res, "cpu", PREFIX)
    shares = unset_if_zero(opt_int(cpu, "shares", F, minimum=0))
    quota = unset_if_zero(opt_int(cpu, "quota", F, minimum=-1))
    period = unset_if_zero(opt_int(cpu, "period", F, minimum=0))
    rt_runtime = unset_if_zero(opt_int(cpu, "realtimeRuntime", F, minimum=-1))
    rt_period = unset_if_zero(opt_int(cpu, "realtimePeriod", F, minimum=0))
    idle = opt_int(cpu, "idle", F, minimum=0, maximum=1)
    burst = opt_int(cpu, "burst", F, minimum=0)

    # Realtime: period before runtime, so a runtime that fits the new period is accepted.
    if rt_period is not None:
        fsio.write(path, "cpu.rt_period_us", rt_period, f"{F}.realtimePeriod")
    if rt_runtime is not None:
        fsio.write(path, "cpu.rt_runtime_us", rt_runtime, f"{F}.realtimeRuntime")
    if shares is not None:
        fsio.write(path, "cpu.shares", shares, f"{F}.shares")
        got = fsio.read_int(path, "cpu.shares")
        if got != shares:  # the kernel clamps to [2, 262144] silently
            bound = "maximum" if shares > got else "minimum"
            raise CgroupConfigError(f"{F}.shares: {shares} is out of range, the {bound} is {got}")
    # A smaller period can be refused while the old quota is in place (the quota/period ratio would exceed
    # the parent's); then retry it after the quota, as runc does.
    period_pending = period is not None and not _write_period(path, period)
    if period_pending and quota is None:
        assert period is not None
        fsio.write(path, "cpu.cfs_period_us", period, f"{F}.period")  # raises with the kernel's reason
    if quota is not None:
        fsio.write(path, "cpu.cfs_quota_us", quota, f"{F}.quota")
        if period_pending:
            assert period is not None
            fsio.write(path, "cpu.cfs_period_us", period, f"{F}.period")
    if burst is not None:
        fsio.write(path, "cpu.cfs_burst_us", burst, f"{F}.burst")
    if idle is not None:
        fsio.write(path, "cpu.idle", idle, f"{F}.idle")


def stats(path: str, out: dict[str, Any]) -> None:
    st = fsio.read_keyed(path, "cpu.stat")
    out["cpu"]["throttling"] = {
        k: v
        for k, v in (
            ("periods", st.get("nr_periods", 0)),
            ("throttledPeriods", st.get("nr_throttled", 0)),
            ("throttledTime", st.get("throttled_time", 0)),
        )
        if v
    }
