"""specgen: CRI ContainerConfig -> runtime-spec config, as pure data."""

from __future__ import annotations

from typing import Any

import pytest
from cri_api.v1 import api_pb2 as pb

from ketch.cri.errors import InvalidArgument
from ketch.cri.specgen import DEFAULT_CRI_CAPABILITIES, PodContext, ResolvedUser, generate, linux_resources
from ketch.spec.runtime import validate_config
from ketch.spec.runtime_defaults import DEFAULT_MASKED_PATHS, default_config

POD = PodContext(
    sandbox_id="s" * 64, pod_name="web", pod_namespace="default", pod_uid="u1",
    namespaces={"net": "/run/p/net", "ipc": "/run/p/ipc", "uts": "/run/p/uts"},
    ns_modes={"network": pb.POD, "pid": pb.CONTAINER, "ipc": pb.POD}, cgroup_parent="/ketch/pod-1",
    etc_files={"/etc/hosts": "/run/p/hosts", "/etc/resolv.conf": "/run/p/resolv.conf"}, shm="/run/p/shm",
)


def _base() -> dict[str, Any]:
    cfg = default_config(["sh"], terminal=False)
    cfg["process"]["env"] = ["PATH=/bin", "FROM_IMAGE=1"]
    return cfg


def _gen(cfg: pb.ContainerConfig, pod: PodContext = POD, **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {"container_id": "c" * 64, "image_entrypoint": ["/entry"], "image_cmd": ["default"],
                            "user": ResolvedUser(0, 0), "devices": [], "cgroups_path": "/ketch/pod-1/ketch-c"}
    args.update(kw)
    return generate(_base(), cfg, pod, **args)


def _cfg(**kw: Any) -> pb.ContainerConfig:
    return pb.ContainerConfig(metadata=pb.ContainerMetadata(name="app"), image=pb.ImageSpec(image="x"), **kw)


@pytest.mark.parametrize(("command", "args", "expected"), [
    ([], [], ["/entry", "default"]),
    ([], ["a", "b"], ["/entry", "a", "b"]),
    (["/bin/run"], [], ["/bin/run"]),
    (["/bin/run"], ["x"], ["/bin/run", "x"]),
])
def test_command_and_args_follow_kubernetes_semantics(command: list[str], args: list[str],
                                                      expected: list[str]) -> None:
    assert _gen(_cfg(command=command, args=args))["process"]["args"] == expected


def test_no_command_at_all_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="no command"):
        _gen(_cfg(), image_entrypoint=[], image_cmd=[])


def test_env_overrides_the_image_and_workdir_user_groups() -> None:
    cfg = _cfg(envs=[pb.KeyValue(key="FROM_IMAGE", value="2"), pb.KeyValue(key="NEW", value="v")],
               working_dir="/srv")
    cfg.linux.security_context.supplemental_groups.extend([5, 7])
    spec = _gen(cfg, user=ResolvedUser(1000, 1000, (5,)))
    p = spec["process"]
    assert "FROM_IMAGE=2" in p["env"] and "NEW=v" in p["env"] and "FROM_IMAGE=1" not in p["env"]
    assert p["cwd"] == "/srv"
    assert p["user"] == {"uid": 1000, "gid": 1000, "additionalGids": [5, 7]}
    validate_config(spec)


def test_pod_namespaces_are_joined_and_pid_is_private_by_default() -> None:
    ns = {n["type"]: n.get("path") for n in _gen(_cfg())["linux"]["namespaces"]}
    assert ns == {"mount": None, "network": "/run/p/net", "ipc": "/run/p/ipc", "uts": "/run/p/uts", "pid": None}


def test_host_network_pod_has_no_network_namespace_entry() -> None:
    pod = PodContext(**{**POD.__dict__, "namespaces": {"ipc": "/run/p/ipc"},
                        "ns_modes": {"network": pb.NODE, "pid": pb.CONTAINER, "ipc": pb.POD}})
    types = [n["type"] for n in _gen(_cfg(), pod)["linux"]["namespaces"]]
    assert "network" not in types and "uts" not in types


def test_a_container_cannot_take_a_host_namespace_its_pod_lacks() -> None:
    for field in ("network", "pid", "ipc"):
        cfg = _cfg()
        setattr(cfg.linux.security_context.namespace_options, field, pb.NODE)
        with pytest.raises(InvalidArgument, match="host"):
            _gen(cfg)


def test_pod_pid_namespace_needs_the_pod_to_have_one() -> None:
    cfg = _cfg()
    cfg.linux.security_context.namespace_options.pid = pb.POD
    with pytest.raises(InvalidArgument, match="PID namespace"):
        _gen(cfg)
    pod = PodContext(**{**POD.__dict__, "namespaces": {**POD.namespaces, "pid": "/run/p/pid"},
                        "ns_modes": {**POD.ns_modes, "pid": pb.POD}})
    ns = {n["type"]: n.get("path") for n in _gen(cfg, pod)["linux"]["namespaces"]}
    assert ns["pid"] == "/run/p/pid"


def test_mounts_binds_propagation_and_pod_files() -> None:
    cfg = _cfg(mounts=[
        pb.Mount(container_path="/data/sub", host_path="/srv/sub", readonly=True),
        pb.Mount(container_path="/data", host_path="/srv/data", propagation=pb.PROPAGATION_HOST_TO_CONTAINER),
        pb.Mount(container_path="/etc/hosts", host_path="/srv/myhosts",
                 propagation=pb.PROPAGATION_BIDIRECTIONAL),
    ])
    mounts = _gen(cfg)["mounts"]
    by_dest = {m["destination"]: m for m in mounts}
    assert by_dest["/data"]["options"] == ["rbind", "rw", "rslave"]
    assert by_dest["/data/sub"]["options"] == ["rbind", "ro", "rprivate"]
    assert by_dest["/etc/hosts"]["source"] == "/srv/myhosts"  # the user's mount wins over the pod file
    assert by_dest["/etc/hosts"]["options"][-1] == "rshared"
    assert by_dest["/etc/resolv.conf"]["source"] == "/run/p/resolv.conf"
    assert by_dest["/dev/shm"]["source"] == "/run/p/shm"
    dests = [m["destination"] for m in mounts]
    assert dests.index("/data") < dests.index("/data/sub")


@pytest.mark.parametrize("path", ["relative", ""])
def test_mount_paths_must_be_absolute(path: str) -> None:
    with pytest.raises(InvalidArgument, match="mounts\\[0\\]"):
        _gen(_cfg(mounts=[pb.Mount(container_path=path, host_path="/x")]))


def test_capabilities_add_drop_and_all() -> None:
    cfg = _cfg()
    sc = cfg.linux.security_context
    sc.capabilities.add_capabilities.append("SYS_ADMIN")
    sc.capabilities.drop_capabilities.append("CAP_NET_RAW")
    caps = _gen(cfg)["process"]["capabilities"]
    assert "CAP_SYS_ADMIN" in caps["bounding"] and "CAP_NET_RAW" not in caps["bounding"]
    assert set(caps["bounding"]) == set(DEFAULT_CRI_CAPABILITIES) - {"CAP_NET_RAW"} | {"CAP_SYS_ADMIN"}
    cfg2 = _cfg()
    cfg2.linux.security_context.capabilities.drop_capabilities.append("ALL")
    cfg2.linux.security_context.capabilities.add_capabilities.append("CHOWN")
    assert _gen(cfg2)["process"]["capabilities"]["bounding"] == ["CAP_CHOWN"]
    cfg3 = _cfg()
    cfg3.linux.security_context.capabilities.add_capabilities.append("CAP_TELEPATHY")
    with pytest.raises(InvalidArgument, match="CAP_TELEPATHY"):
        _gen(cfg3)


def test_privileged_needs_a_privileged_pod_and_then_drops_confinement() -> None:
    cfg = _cfg()
    cfg.linux.security_context.privileged = True
    with pytest.raises(InvalidArgument, match="privileged"):
        _gen(cfg)
    spec = _gen(cfg, PodContext(**{**POD.__dict__, "privileged": True}))
    assert "maskedPaths" not in spec["linux"] and "seccomp" not in spec["linux"]
    assert spec["linux"]["resources"]["devices"] == [{"allow": True, "access": "rwm"}]
    sys_mount = next(m for m in spec["mounts"] if m["destination"] == "/sys")
    assert "ro" not in sys_mount.get("options", [])


def test_security_flags_and_default_masks() -> None:
    cfg = _cfg()
    sc = cfg.linux.security_context
    sc.readonly_rootfs = True
    sc.no_new_privs = True
    spec = _gen(cfg)
    assert spec["root"] == {"path": "rootfs", "readonly": True}
    assert spec["process"]["noNewPrivileges"] is True
    assert spec["linux"]["maskedPaths"] == DEFAULT_MASKED_PATHS  # empty list in the request: defaults kept
    sc.masked_paths.append("/proc/secret")
    assert _gen(cfg)["linux"]["maskedPaths"] == ["/proc/secret"]


def test_seccomp_profiles() -> None:
    seen: list[list[str]] = []

    def runtime_default(caps: list[str]) -> dict[str, Any]:
        seen.append(caps)
        return {"defaultAction": "SCMP_ACT_ERRNO"}

    cfg = _cfg()
    assert "seccomp" not in _gen(cfg, runtime_default_seccomp=runtime_default)["linux"]  # nothing asked
    cfg.linux.security_context.seccomp.profile_type = pb.SecurityProfile.RuntimeDefault
    assert _gen(cfg, runtime_default_seccomp=runtime_default)["linux"]["seccomp"] == {
        "defaultAction": "SCMP_ACT_ERRNO"}
    assert seen and "CAP_CHOWN" in seen[0]
    with pytest.raises(InvalidArgument, match="RuntimeDefault"):
        _gen(cfg)  # no default profile configured: refuse rather than run unconfined
    cfg.linux.security_context.seccomp.profile_type = pb.SecurityProfile.Localhost
    cfg.linux.security_context.seccomp.localhost_ref = "/etc/profile.json"
    spec = _gen(cfg, localhost_seccomp=lambda ref: {"defaultAction": "SCMP_ACT_LOG", "ref": ref})
    assert spec["linux"]["seccomp"]["ref"] == "/etc/profile.json"
    cfg.linux.security_context.seccomp.localhost_ref = "relative.json"
    with pytest.raises(InvalidArgument, match="absolute"):
        _gen(cfg)
    cfg.linux.security_context.seccomp.profile_type = pb.SecurityProfile.Unconfined
    assert "seccomp" not in _gen(cfg)["linux"]


def test_resources_and_oom_score_floor() -> None:
    r = pb.LinuxContainerResources(memory_limit_in_bytes=64 << 20, cpu_shares=512, cpu_quota=50000,
                                   cpu_period=100000, cpuset_cpus="0", oom_score_adj=-998)
    res, adj = linux_resources(r, oom_floor=-500)
    assert res["memory"] == {"limit": 64 << 20, "swap": 64 << 20}
    assert res["cpu"] == {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0"}
    assert adj == -500  # clamped: without CAP_SYS_RESOURCE the kernel refuses less than our own score
    _res, adj2 = linux_resources(r, oom_floor=None)
    assert adj2 == -998
    cfg = _cfg()
    cfg.linux.resources.CopyFrom(r)
    spec = _gen(cfg, oom_floor=-500)
    assert spec["process"]["oomScoreAdj"] == -500
    assert spec["linux"]["cgroupsPath"] == "/ketch/pod-1/ketch-c"
    assert spec["linux"]["resources"]["memory"]["limit"] == 64 << 20


def test_devices_and_annotations() -> None:
    dev = {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o666, "uid": 0, "gid": 0,
           "_access": "rw"}
    spec = _gen(_cfg(annotations={"a": "b"}), devices=[dev])
    assert spec["linux"]["devices"] == [{k: v for k, v in dev.items() if k != "_access"}]
    assert {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rw"} in spec["linux"]["resources"][
        "devices"]
    ann = spec["annotations"]
    assert ann["a"] == "b" and ann["io.kubernetes.cri.sandbox-id"] == "s" * 64
    assert "hostname" not in spec  # the pod's UTS namespace carries it
    validate_config(spec)


def test_pod_cgroup_limit_conversions() -> None:
    from ketch.cri.podcgroup import apply_pod_limits, shares_to_weight

    assert shares_to_weight(2) == 1 and shares_to_weight(262144) == 10000 and shares_to_weight(1024) == 39
    with pytest.raises(InvalidArgument, match="negative"):
        apply_pod_limits("/ketch/x", memory=-1)
    with pytest.raises(InvalidArgument, match="root cgroup"):
        apply_pod_limits("/", memory=1 << 20)
    from ketch.cri.cgstats import rel_path

    assert rel_path("/../../kubepods/pod1") == "kubepods/pod1"  # rooted: ".." cannot leave the hierarchy
