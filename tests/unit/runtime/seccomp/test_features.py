from __future__ import annotations

from ketch.runtime.seccomp import features
from ketch.runtime.seccomp.libseccomp import version


def test_features_report_what_works_here() -> None:
    f = features()
    assert f["enabled"] is True
    assert {"SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_NOTIFY", "SCMP_ACT_LOG"} <= set(f["actions"])
    assert len(f["operators"]) == 7 and "SCMP_CMP_MASKED_EQ" in f["operators"]
    assert {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"} <= set(f["archs"])
    assert f["knownFlags"] == sorted(f["knownFlags"]) and set(f["supportedFlags"]) <= set(f["knownFlags"])
    assert "SECCOMP_FILTER_FLAG_TSYNC" in f["supportedFlags"]
    assert version().count(".") == 2
