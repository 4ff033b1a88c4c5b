"""CRI container config -> runtime-spec config.json: pure data in, data out (no I/O).

The caller gathers what needs the host or the image (the image's base config from
``ketch.image.convert.runtime_config``, the resolved user, device numbers, seccomp profiles) and passes it
in; every CRI field is then applied here, in the order containerd's spec options apply them
(pkg/cri/server/container_create_linux.go): process, mounts, namespaces, security, resources.
"""

from __future__ import annotations

import copy
import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cri_api.v1 import api_pb2 as pb

from ketch.cri.errors import InvalidArgument
from ketch.spec.runtime_caps import CAPABILITY_NAMES
from ketch.spec.runtime_defaults import DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS

__all__ = ["DEFAULT_CRI_CAPABILITIES", "PodContext", "ResolvedUser", "generate", "linux_resources",
           "normalize_capabilities"]

# The default set containers get under containerd and CRI-O (moby's defaults).
DEFAULT_CRI_CAPABILITIES = [
    "CAP_AUDIT_WRITE", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_MKNOD",
    "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID",
    "CAP_SYS_CHROOT",
]

_PROPAGATION = {
    pb.PROPAGATION_PRIVATE: "rprivate",
    pb.PROPAGATION_HOST_TO_CONTAINER: "rslave",
    pb.PROPAGATION_BIDIRECTIONAL: "rshared",
}


@dataclass(frozen=True)
class ResolvedUser:
    uid: int
    gid: int
    additional_gids: tuple[int, ...] = ()


@dataclass(frozen=True)
class PodContext:
    """What a container takes from its pod sandbox."""

    sandbox_id: str
    pod_name: str
    pod_namespace: str
    pod_uid: str
    namespaces: dict[str, str]  # "net"/"ipc"/"uts"/"pid" -> pinned path; absent: the host's
    ns_modes: dict[str, int]  # "network"/"pid"/"ipc" -> NamespaceMode of the pod
    cgroup_parent: str
    etc_files: dict[str, str] = field(default_factory=dict)  # "/etc/hosts" etc. -> host file
    shm: str = ""  # host dir of the pod's /dev/shm ("" = the container gets its own)
    privileged: bool = False  # the pod allows privileged containers
    sysctls: dict[str, str] = field(default_factory=dict)


def normalize_capabilities(names: list[str], where: str) -> list[str]:
    out = []
    for n in names:
        cap = n.upper()
        if cap == "ALL":
            out.append("ALL")
            continue
        if not cap.startswith("CAP_"):
            cap = "CAP_" + cap
        if cap not in CAPABILITY_NAMES:
            raise InvalidArgument(f"{where}: unknown capability {n!r}")
        out.append(cap)
    return out


def _capabilities(sc: pb.LinuxContainerSecurityContext) -> tuple[list[str], list[str]]:
    if sc.privileged:
        return sorted(CAPABILITY_NAMES), []
    add = normalize_capabilities(list(sc.capabilities.add_capabilities), "capabilities.add_capabilities")
    drop = normalize_capabilities(list(sc.capabilities.drop_capabilities), "capabilities.drop_capabilities")
    ambient = normalize_capabilities(list(sc.capabilities.add_ambient_capabilities),
                                     "capabilities.add_ambient_capabilities")
    caps = set(DEFAULT_CRI_CAPABILITIES)
    # containerd's order: "ALL" in add gives everything, then drops apply; "ALL" in drop empties the set
    # before the explicit adds.
    if "ALL" in drop:
        caps = set()
    else:
        caps -= set(drop)
    if "ALL" in add:
        caps = set(CAPABILITY_NAMES) - (set(drop) - {"ALL"})
    else:
        caps |= set(add)
    caps |= set(a for a in ambient if a != "ALL")
    return sorted(caps), sorted(a for a in ambient if a in caps)


def linux_resources(r: pb.LinuxContainerResources, *, oom_floor: int | None) -> tuple[dict[str, Any], int | None]:
    """runtime-spec ``linux.resources`` (without devices) and the process's oomScoreAdj."""
    out: dict[str, Any] = {}
    mem: dict[str, Any] = {}
    if r.memory_limit_in_bytes > 0:
        mem["limit"] = r.memory_limit_in_bytes
    if r.memory_swap_limit_in_bytes > 0:
        mem["swap"] = r.memory_swap_limit_in_bytes
    elif r.memory_limit_in_bytes > 0:
        mem["swap"] = r.memory_limit_in_bytes  # no swap beyond the limit, as containerd does
    if mem:
        out["memory"] = mem
    cpu: dict[str, Any] = {}
    if r.cpu_shares:
        cpu["shares"] = r.cpu_shares
    if r.cpu_quota:
        cpu["quota"] = r.cpu_quota
    if r.cpu_period:
        cpu["period"] = r.cpu_period
    if r.cpuset_cpus:
        cpu["cpus"] = r.cpuset_cpus
    if r.cpuset_mems:
        cpu["mems"] = r.cpuset_mems
    if cpu:
        out["cpu"] = cpu
    if r.hugepage_limits:
        out["hugepageLimits"] = [{"pageSize": h.page_size, "limit": h.limit} for h in r.hugepage_limits]
    if r.unified:
        out["unified"] = dict(r.unified)
    adj: int | None = r.oom_score_adj
    if oom_floor is not None and adj is not None and adj < oom_floor:
        # Without CAP_SYS_RESOURCE a lower score than our own is refused by the kernel: clamp, as
        # containerd's restrict_oom_score_adj does, instead of failing the container.
        adj = oom_floor
    return out, adj


def _command(cfg: pb.ContainerConfig, image_entrypoint: list[str], image_cmd: list[str]) -> list[str]:
    # Kubernetes semantics: command replaces the ENTRYPOINT (and drops CMD), args replace CMD.
    if cfg.command:
        argv = list(cfg.command) + list(cfg.args)
    else:
        argv = image_entrypoint + (list(cfg.args) if cfg.args else image_cmd)
    if not argv:
        raise InvalidArgument(
            f"container {cfg.metadata.name!r}: no command: the image has neither entrypoint nor cmd and the "
            "config gives neither command nor args")
    return argv


def _bind(dest: str, src: str, options: list[str]) -> dict[str, Any]:
    return {"destination": dest, "type": "bind", "source": src, "options": ["rbind", *options]}


def _mounts(base: list[dict[str, Any]], cfg: pb.ContainerConfig, pod: PodContext, privileged: bool,
            readonly_root: bool) -> list[dict[str, Any]]:
    user_dests = set()
    cri: list[dict[str, Any]] = []
    for i, m in enumerate(cfg.mounts):
        where = f"mounts[{i}]"
        if not m.container_path.startswith("/"):
            raise InvalidArgument(f"{where}: container_path {m.container_path!r} is not absolute")
        if not m.host_path.startswith("/"):
            raise InvalidArgument(f"{where}: host_path {m.host_path!r} is not absolute")
        if m.image.image:
            raise InvalidArgument(f"{where}: image volumes are not supported")
        dest = posixpath.normpath(m.container_path)
        user_dests.add(dest)
        opts = ["ro" if m.readonly else "rw", _PROPAGATION.get(m.propagation, "rprivate")]
        if m.recursive_read_only:
            if not m.readonly:
                raise InvalidArgument(f"{where}: recursive_read_only needs readonly")
            opts.append("rro")
        cri.append(_bind(dest, m.host_path, opts))
    out: list[dict[str, Any]] = []
    for bm in base:
        d = bm["destination"]
        if d in user_dests:
            continue
        if d == "/dev/shm" and pod.shm:
            continue
        if d == "/sys" and privileged:
            bm = dict(bm, options=[o for o in bm.get("options", []) if o != "ro"])
        out.append(bm)
    if pod.shm and "/dev/shm" not in user_dests:
        out.append(_bind("/dev/shm", pod.shm, ["rw", "nosuid", "nodev", "noexec"]))
    for dest, src in sorted(pod.etc_files.items()):
        if dest not in user_dests:
            # Writable unless the root is read-only, as containerd mounts them.
            out.append(_bind(dest, src, ["ro" if readonly_root else "rw", "rprivate"]))
    # Parents before children: a mount at /a/b made before /a would be hidden by it.
    cri.sort(key=lambda c: str(c["destination"]).count("/"))
    return out + cri


def _namespaces(cfg: pb.ContainerConfig, pod: PodContext, target_pid_ns: str) -> list[dict[str, Any]]:
    sc = cfg.linux.security_context
    want = sc.namespace_options
    ns: list[dict[str, Any]] = [{"type": "mount"}]
    # network, ipc, uts follow the pod; a container cannot ask for a host namespace its pod lacks.
    pod_net = pod.ns_modes.get("network", pb.POD)
    if sc.HasField("namespace_options") and want.network != pod_net and want.network == pb.NODE:
        raise InvalidArgument(f"container {cfg.metadata.name!r} asks for the host network but its pod has its own")
    if sc.HasField("namespace_options") and want.ipc == pb.NODE and pod.ns_modes.get("ipc", pb.POD) != pb.NODE:
        raise InvalidArgument(f"container {cfg.metadata.name!r} asks for the host IPC namespace but its pod has "
                              "its own")
    for kind, spec_kind in (("net", "network"), ("ipc", "ipc"), ("uts", "uts")):
        path = pod.namespaces.get(kind)
        if path:
            ns.append({"type": spec_kind, "path": path})
    pod_pid = pod.ns_modes.get("pid", pb.CONTAINER)
    mode = want.pid if sc.HasField("namespace_options") else pod_pid
    if mode == pb.NODE and pod_pid != pb.NODE:
        raise InvalidArgument(f"container {cfg.metadata.name!r} asks for the host PID namespace but its pod has "
                              "its own")
    if pod_pid == pb.NODE or mode == pb.NODE:
        pass
    elif mode == pb.POD:
        if not pod.namespaces.get("pid"):
            raise InvalidArgument(f"container {cfg.metadata.name!r} asks for the pod's PID namespace but pod "
                                  f"{pod.sandbox_id} was not created with one")
        ns.append({"type": "pid", "path": pod.namespaces["pid"]})
    elif mode == pb.TARGET:
        if not target_pid_ns:
            raise InvalidArgument(f"container {cfg.metadata.name!r}: target_id {want.target_id!r} has no PID "
                                  "namespace to join")
        ns.append({"type": "pid", "path": target_pid_ns})
    else:
        ns.append({"type": "pid"})
    return ns


def _seccomp(sc: pb.LinuxContainerSecurityContext, caps: list[str],
             runtime_default: Callable[[list[str]], dict[str, Any]] | None,
             localhost: Callable[[str], dict[str, Any]]) -> dict[str, Any] | None:
    if sc.privileged:
        return None
    if sc.HasField("seccomp"):
        kind, ref = sc.seccomp.profile_type, sc.seccomp.localhost_ref
    elif sc.seccomp_profile_path:  # deprecated string form
        p = sc.seccomp_profile_path
        if p in ("runtime/default", "docker/default"):
            kind, ref = pb.SecurityProfile.RuntimeDefault, ""
        elif p == "unconfined":
            kind, ref = pb.SecurityProfile.Unconfined, ""
        elif p.startswith("localhost/"):
            kind, ref = pb.SecurityProfile.Localhost, p[len("localhost/"):]
        else:
            raise InvalidArgument(f"seccomp_profile_path {p!r} is not runtime/default, unconfined or localhost/...")
    else:
        return None  # nothing asked: unconfined, as containerd does when kubelet sends no profile
    if kind == pb.SecurityProfile.Unconfined:
        return None
    if kind == pb.SecurityProfile.Localhost:
        if not ref.startswith("/"):
            raise InvalidArgument(f"seccomp localhost_ref {ref!r} is not an absolute path")
        return localhost(ref)
    if runtime_default is None:
        raise InvalidArgument("seccomp RuntimeDefault asked for, but ketchd has no default profile configured")
    return runtime_default(caps)


def generate(
    base: dict[str, Any],
    cfg: pb.ContainerConfig,
    pod: PodContext,
    *,
    container_id: str,
    image_entrypoint: list[str],
    image_cmd: list[str],
    user: ResolvedUser,
    devices: list[dict[str, Any]],
    cgroups_path: str,
    oom_floor: int | None = None,
    target_pid_ns: str = "",
    runtime_default_seccomp: Callable[[list[str]], dict[str, Any]] | None = None,
    localhost_seccomp: Callable[[str], dict[str, Any]] = lambda ref: {},
) -> dict[str, Any]:
    """The config.json for container ``container_id`` of ``pod``; ``base`` is the image's converted config."""
    spec = copy.deepcopy(base)
    sc = cfg.linux.security_context
    if sc.privileged and not pod.privileged:
        raise InvalidArgument(f"container {cfg.metadata.name!r} is privileged but its pod sandbox is not")
    proc = spec["process"]
    proc["args"] = _command(cfg, image_entrypoint, image_cmd)
    proc["terminal"] = bool(cfg.tty)
    env = {e.partition("=")[0]: e for e in proc.get("env", [])}
    for kv in cfg.envs:
        if not kv.key:
            raise InvalidArgument(f"container {cfg.metadata.name!r}: an env entry has an empty name")
        env[kv.key] = f"{kv.key}={kv.value}"
    proc["env"] = list(env.values())
    if cfg.working_dir:
        if not cfg.working_dir.startswith("/"):
            raise InvalidArgument(f"working_dir {cfg.working_dir!r} is not absolute")
        proc["cwd"] = cfg.working_dir
    gids = list(user.additional_gids) + [g for g in sc.supplemental_groups if g not in user.additional_gids]
    proc["user"] = {"uid": user.uid, "gid": user.gid}
    if gids:
        proc["user"]["additionalGids"] = gids
    proc.pop("rlimits", None)  # inherit the runtime's, as containerd does
    caps, ambient = _capabilities(sc)
    proc["capabilities"] = {"bounding": caps, "effective": caps, "permitted": caps}
    if ambient:
        proc["capabilities"]["ambient"] = ambient
    proc["noNewPrivileges"] = bool(sc.no_new_privs)
    spec.pop("hostname", None)  # the pod's UTS namespace already carries it (set once, at RunPodSandbox)
    spec["root"] = {"path": "rootfs", "readonly": bool(sc.readonly_rootfs)}
    spec["mounts"] = _mounts(spec.get("mounts", []), cfg, pod, sc.privileged, bool(sc.readonly_rootfs))
    linux = spec.setdefault("linux", {})
    linux["namespaces"] = _namespaces(cfg, pod, target_pid_ns)
    linux["cgroupsPath"] = cgroups_path
    resources, adj = linux_resources(cfg.linux.resources, oom_floor=oom_floor)
    if adj is not None:
        proc["oomScoreAdj"] = adj
    if sc.privileged:
        resources["devices"] = [{"allow": True, "access": "rwm"}]
        linux.pop("maskedPaths", None)
        linux.pop("readonlyPaths", None)
    else:
        allow = [{"allow": True, "type": d["type"], "major": d["major"], "minor": d["minor"],
                  "access": d.get("_access", "rwm")} for d in devices]
        resources["devices"] = [{"allow": False, "access": "rwm"}, *allow]
        # Empty lists mean "not given": keep the defaults, never an unmasked /proc by omission.
        linux["maskedPaths"] = list(sc.masked_paths) or list(DEFAULT_MASKED_PATHS)
        linux["readonlyPaths"] = list(sc.readonly_paths) or list(DEFAULT_READONLY_PATHS)
    if devices:
        linux["devices"] = [{k: v for k, v in d.items() if not k.startswith("_")} for d in devices]
    linux["resources"] = resources
    seccomp = _seccomp(sc, caps, runtime_default_seccomp, localhost_seccomp)
    if seccomp:
        linux["seccomp"] = seccomp
    else:
        linux.pop("seccomp", None)
    ann = dict(spec.get("annotations") or {})
    ann.update(cfg.annotations)
    ann.update({
        "io.kubernetes.cri.container-type": "container",
        "io.kubernetes.cri.container-name": cfg.metadata.name,
        "io.kubernetes.cri.sandbox-id": pod.sandbox_id,
        "io.kubernetes.cri.sandbox-name": pod.pod_name,
        "io.kubernetes.cri.sandbox-namespace": pod.pod_namespace,
        "io.kubernetes.cri.sandbox-uid": pod.pod_uid,
    })
    spec["annotations"] = ann
    return spec
