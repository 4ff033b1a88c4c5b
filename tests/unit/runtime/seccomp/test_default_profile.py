from __future__ import annotations

from typing import Any

from ketch.runtime.seccomp import parse_profile, prepare, runtime_default_profile


def names(profile: dict[str, Any], action: str = "SCMP_ACT_ALLOW", with_args: bool = False) -> set[str]:
    return {
        n
        for rule in profile["syscalls"]
        if rule["action"] == action and bool(rule.get("args")) == with_args
        for n in rule["names"]
    }


def test_unprivileged_profile_denies_namespace_and_keyring_calls() -> None:
    p = runtime_default_profile(["CAP_CHOWN", "CAP_NET_BIND_SERVICE"], machine="x86_64")
    assert p["defaultAction"] == "SCMP_ACT_ERRNO" and p["defaultErrnoRet"] == 1
    assert p["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    allowed = names(p)
    assert {"read", "execve", "openat", "arch_prctl", "ptrace", "capset", "setresuid", "prctl"} <= allowed
    assert "clone3" not in allowed
    for call in ("mount", "unshare", "setns", "keyctl", "add_key", "request_key", "bpf", "kexec_load", "reboot",
                 "open_by_handle_at", "init_module", "userfaultfd", "umount2"):
        assert call not in allowed
    assert names(p, "SCMP_ACT_ERRNO") == {"clone3"}  # ENOSYS so libcs fall back to the filtered clone
    assert names(p, with_args=True) == {"socket", "personality", "clone"}
    parse_profile(p)


def test_capabilities_widen_it() -> None:
    p = runtime_default_profile(["CAP_SYS_ADMIN", "CAP_SYS_PTRACE", "CAP_SYS_BOOT"], machine="x86_64")
    allowed = names(p)
    assert {"mount", "unshare", "setns", "clone", "clone3", "kcmp", "reboot"} <= allowed
    assert "clone3" not in names(p, "SCMP_ACT_ERRNO")
    assert "clone" not in names(p, with_args=True)  # unconditional once CAP_SYS_ADMIN is there


def test_machine_specific_groups() -> None:
    arm = runtime_default_profile(machine="aarch64")
    assert arm["architectures"] == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    assert "set_tls" in names(arm) and "arch_prctl" not in names(arm)
    s390 = runtime_default_profile(machine="s390x")
    clone = [r for r in s390["syscalls"] if r["names"] == ["clone"]]
    assert clone[0]["args"][0]["index"] == 1


def test_it_compiles_with_nothing_unknown() -> None:
    prog = prepare(runtime_default_profile(), None)
    assert len(prog.bpf) // 8 > 100
    assert prepare(runtime_default_profile(["CAP_SYS_ADMIN"]), None).bpf != prog.bpf
