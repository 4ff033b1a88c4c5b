"""``create``: the runtime's side of building a container (see :mod:`.messages` for the protocol).

The parent prepares everything that must come from the host (the config, the cgroup, namespace files, the
exec fifo, the sealed trampoline), forks, answers the child's and the init's requests, and records the
result. Any failure tears down what was built: the container then does not exist at all.
"""

from __future__ import annotations

import os
import time

from ketch.linux import ns as nslib
from ketch.linux import prctl, signals
from ketch.runtime.errors import ConfigInvalid, CreateFailed, RuntimeFailure
from ketch.runtime.hooks import run_hooks
from ketch.runtime.process.channel import Channel, ChannelClosed, RemoteError, socketpair
from ketch.runtime.process.messages import GO, HELLO, HOOKS_DONE, INIT_PID, MOUNTS_READY, READY, SECCOMP_FD
from ketch.runtime.state import StateStore, format_time, process_start_time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["CreateOptions", "create_container"]

class CreateOptions:
    def __init__(
        self,
        bundle: str,
        *,
        console_socket: str | None = None,
        console_fd: int = -1,
        pid_file: str | None = None,
        no_pivot: bool = False,
        no_new_keyring: bool = False,
        preserve_fds: int = 0,
        systemd_cgroup: bool = False,
    ) -> None:
        self.bundle = bundle
        self.console_socket = console_socket
        self.console_fd = console_fd
        self.pid_file = pid_file
        self.no_pivot = no_pivot
        self.no_new_keyring = no_new_keyring
        self.preserve_fds = preserve_fds
        self.systemd_cgroup = systemd_cgroup


def load_bundle_config(bundle: str) -> dict[str, Any]:
    from ketch._common import fastjson
    from ketch.spec.runtime import ConfigError, validate_config

    if not os.path.isdir(bundle):
        raise ConfigInvalid(f"bundle {bundle}: no such directory")
    path = os.path.join(bundle, "config.json")
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise ConfigInvalid(f"config.json: not found in bundle {bundle}") from None
    try:
        cfg = fastjson.loads(raw)
    except ValueError as exc:
        raise ConfigInvalid(f"config.json: invalid JSON: {exc}") from None
    try:
        return validate_config(cfg)
    except ConfigError as exc:
        raise ConfigInvalid(f"config.json: {exc}") from None


def _has_cap(cap: int) -> bool:
    from ketch.linux.caps import capget

    return bool(capget().effective & (1 << cap))


def precheck(cfg: dict[str, Any], opts: CreateOptions, rootfs: str) -> None:
    """Refuse, before anything is built, what would only fail half-way."""
    process = cfg.get("process")
    if process is None:
        raise ConfigInvalid("config.json: process: is required to create a container")
    if not os.path.isdir(rootfs):
        raise ConfigInvalid(f"config.json: root.path: {rootfs} is not a directory")
    if process.get("terminal") and opts.console_socket is None and opts.console_fd < 0:
        raise ConfigInvalid(
            "config.json: process.terminal: a terminal needs --console-socket (or `run` without --detach)"
        )
    cap_sys_resource = _has_cap(24)
    from ketch.runtime.rlimits import check_rlimits

    try:
        check_rlimits(process.get("rlimits", []), cap_sys_resource)
    except PermissionError as exc:
        raise ConfigInvalid(f"config.json: {exc.strerror}") from None
    if "oomScoreAdj" in process and not cap_sys_resource:
        with open("/proc/self/oom_score_adj") as f:
            current = int(f.read())
        wanted = process["oomScoreAdj"]
        if wanted < current:
            raise ConfigInvalid(
                f"config.json: process.oomScoreAdj: lowering it to {wanted} (from {current}) needs "
                "CAP_SYS_RESOURCE, which this process does not have"
            )
    for key, name in (("apparmorProfile", "AppArmor"), ("selinuxLabel", "SELinux")):
        if process.get(key) and not _lsm_enabled(key):
            raise ConfigInvalid(f"config.json: process.{key}: {name} is not enabled on this host")


def _lsm_enabled(key: str) -> bool:
    if key == "apparmorProfile":
        try:
            with open("/sys/module/apparmor/parameters/enabled") as f:
                return f.read().strip() == "Y"
        except OSError:
            return False
    return os.path.exists("/sys/fs/selinux/enforce")


class _Build:
    """What a create has built so far, so a failure can take exactly that down again."""

    def __init__(self, store: StateStore, container_id: str) -> None:
        self.store = store
        self.id = container_id
        self.claimed = False
        self.child = 0
        self.init_pid = 0
        self.cgroup: Any = None
        self.fds: list[int] = []

    def close_fds(self) -> None:
        for fd in self.fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self.fds = []

    def teardown(self) -> None:
        self.close_fds()
        for pid in (self.init_pid, self.child):
            if pid:
                try:
                    os.kill(pid, signals.SIGKILL)
                except ProcessLookupError:
                    pass
                _reap(pid)
        if self.cgroup is not None:
            try:
                self.cgroup.destroy()
            except Exception:
                pass
        if self.claimed:
            self.store.remove(self.id)


def _reap(pid: int, timeout: float = 5.0) -> None:
    """Wait for ``pid`` (our child, or reparented to us as subreaper) to exit."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                return
        except ChildProcessError:
            info = process_start_time(pid)
            if info is None or info[1] in ("Z", "X"):
                return
        if time.monotonic() > deadline:
            return
        time.sleep(0.001)


def create_container(store: StateStore, container_id: str, opts: CreateOptions) -> dict[str, Any]:
    """Build the container up to the point where only its program's exec remains; returns its state."""
    from ketch._common.ids import InvalidName, validate_container_id

    try:
        validate_container_id(container_id)
    except InvalidName as exc:
        raise ConfigInvalid(str(exc)) from None
    from ketch.runtime.cgroups.warm import warm_attach_lock

    warm_attach_lock()
    bundle = os.path.abspath(opts.bundle)
    cfg = load_bundle_config(bundle)
    rootfs = os.path.join(bundle, cfg["root"]["path"])
    precheck(cfg, opts, rootfs)
    build = _Build(store, container_id)
    try:
        try:
            store.claim(container_id)
        except FileExistsError:
            from ketch.runtime.errors import ContainerExists

            raise ContainerExists(container_id) from None
        build.claimed = True
        return _build(store, container_id, cfg, bundle, rootfs, opts, build)
    except BaseException:
        build.teardown()
        raise


def _build(
    store: StateStore,
    container_id: str,
    cfg: dict[str, Any],
    bundle: str,
    rootfs: str,
    opts: CreateOptions,
    build: _Build,
) -> dict[str, Any]:
    linux = cfg.get("linux", {})
    namespaces = {n["type"]: n for n in linux.get("namespaces", [])}
    fifo = store.fifo_path(container_id)
    os.mkfifo(fifo, 0o622)
    # read-write: opening never blocks, and the init blocks reading it until start writes (see init)
    fifo_fd = os.open(fifo, os.O_RDWR | os.O_CLOEXEC)
    build.fds.append(fifo_fd)
    seccomp = _prepare_seccomp(linux.get("seccomp"), store.root)
    ns_fds: list[tuple[str, int]] = []
    for kind, entry in namespaces.items():
        if "path" in entry:
            try:
                fd = os.open(entry["path"], os.O_RDONLY | os.O_CLOEXEC)
            except OSError as exc:
                raise ConfigInvalid(
                    f"config.json: linux.namespaces ({kind}): cannot open {entry['path']}: {exc.strerror}"
                ) from None
            build.fds.append(fd)
            ns_fds.append((kind, fd))
    trampoline = _trampoline()
    if trampoline >= 0:
        build.fds.append(trampoline)
    console_fd = opts.console_fd
    if opts.console_socket is not None:
        console_fd = _connect(opts.console_socket)
        build.fds.append(console_fd)
    if seccomp is not None and seccomp.notify:
        from ketch.linux import term as _term  # noqa: F401 - the init sends the listener fd with it
    if cfg["process"].get("terminal"):
        # the init cannot import after pivot_root: load what the console step needs now
        import fcntl  # noqa: F401
        import struct  # noqa: F401
        import termios  # noqa: F401

        from ketch.linux import term  # noqa: F401

    parent_fd, child_fd = socketpair()
    build.fds.append(parent_fd)
    channel = Channel(parent_fd)
    setup = _ChildSetup(
        cfg,
        bundle,
        rootfs,
        child_fd,
        namespaces,
        ns_fds,
        fifo_fd=fifo_fd,
        trampoline_fd=trampoline,
        console_fd=console_fd,
        preserve_fds=opts.preserve_fds,
        no_pivot=opts.no_pivot,
        no_new_keyring=opts.no_new_keyring,
        seccomp=seccomp,
    )
    # the init is re-parented to us when the child exits, so a failure can still reap it
    prctl.set_child_subreaper(True)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os.close(parent_fd)
        _child(setup)
    build.child = pid
    os.close(child_fd)

    from ketch.runtime.cgroups import CgroupError, new_manager

    try:
        # The child enters its namespaces while the cgroup is built here. Moving the first process into a
        # cgroup waits out an RCU grace period (cgroup_threadgroup_rwsem): milliseconds worth overlapping.
        try:
            build.cgroup = new_manager(linux.get("cgroupsPath"), container_id, systemd=opts.systemd_cgroup)
            build.cgroup.create()
            build.cgroup.apply(linux.get("resources") or {})
        except CgroupError as exc:
            raise ConfigInvalid(f"config.json: {exc}") from None
        channel.recv(HELLO)
        build.cgroup.add_pid(pid)
        if setup.userns_new:
            from ketch.runtime.userns import write_id_maps

            write_id_maps(pid, linux.get("uidMappings", []), linux.get("gidMappings", []))
        channel.send(GO, cgroups=dict(build.cgroup.paths))
        build.init_pid = channel.recv(INIT_PID)["pid"]
        _reap(pid)
        build.child = 0
        state = {
            "ociVersion": cfg["ociVersion"],
            "id": container_id,
            "pid": build.init_pid,
            "bundle": bundle,
            "rootfs": rootfs,
            "created": format_time(time.time_ns()),
            "annotations": cfg.get("annotations", {}),
            "owner": "",
            "phase": "creating",
            "cgroup": build.cgroup.to_state(),
            "config": cfg,
        }
        store.save(state)
        channel.recv(MOUNTS_READY)
        spec_state = public_state(state, "creating")
        state_json = _json(spec_state)
        run_hooks(cfg.get("hooks"), "prestart", state_json)
        run_hooks(cfg.get("hooks"), "createRuntime", state_json)
        channel.send(HOOKS_DONE, state=state_json.decode())
        if seccomp is not None and seccomp.notify:
            _hand_over_listener(channel, seccomp, state_json)
        channel.recv(READY)
    except ChannelClosed as exc:
        limit = ((linux.get("resources") or {}).get("memory") or {}).get("limit")
        if limit is not None and _oom_killed(build.cgroup):
            raise CreateFailed(
                f'container "{container_id}": linux.resources.memory.limit: {limit} bytes is too little to '
                "start the container (the OOM killer stopped it during create)"
            ) from None
        raise CreateFailed(f'container "{container_id}": {exc}') from None
    except RemoteError as exc:
        raise CreateFailed(f'container "{container_id}": {exc}') from None
    except OSError as exc:
        raise CreateFailed(f'container "{container_id}": {exc.strerror or exc}') from None
    info = process_start_time(build.init_pid)
    if info is None:
        raise CreateFailed(f'container "{container_id}": the init process exited during create')
    state["pidStartTime"] = info[0]
    state["phase"] = "created"
    store.save(state)
    if opts.pid_file:
        from ketch._common.atomicio import write_atomic

        write_atomic(os.path.abspath(opts.pid_file), str(build.init_pid).encode(), 0o644)
    build.close_fds()
    return state


class _ChildSetup:
    """What the child needs from the parent; the init's context is built from it in the child."""

    def __init__(
        self,
        cfg: dict[str, Any],
        bundle: str,
        rootfs: str,
        channel_fd: int,
        namespaces: dict[str, dict[str, Any]],
        ns_fds: list[tuple[str, int]],
        *,
        fifo_fd: int,
        trampoline_fd: int,
        console_fd: int,
        preserve_fds: int,
        no_pivot: bool,
        no_new_keyring: bool,
        seccomp: Any,
    ) -> None:
        self.cfg = cfg
        self.linux: dict[str, Any] = cfg.get("linux", {})
        self.bundle = bundle
        self.rootfs = rootfs
        self.channel = Channel(channel_fd)
        self.namespaces = namespaces
        self.ns_fds = ns_fds
        self.fifo_fd = fifo_fd
        self.trampoline_fd = trampoline_fd
        self.console_fd = console_fd
        self.preserve_fds = preserve_fds
        self.no_pivot = no_pivot
        self.no_new_keyring = no_new_keyring
        self.seccomp = seccomp
        self.userns_new = "user" in namespaces and "path" not in namespaces["user"]


def _oom_killed(cgroup: Any) -> bool:
    try:
        return bool(cgroup.oom_kill_count())
    except Exception:
        return False


def _child(setup: _ChildSetup) -> None:  # pragma: no cover - runs in the child
    """The middle process: enters the namespaces, forks the init, reports its pid and exits.

    Only pid and time namespaces need it: unshare(2) of those applies to the caller's children.
    """
    channel = setup.channel
    namespaces = setup.namespaces
    try:
        if setup.userns_new:
            nslib.unshare(nslib.CLONE_NEWUSER)
        channel.send(HELLO)
        # Join by path: every namespace but the user one first, while we are still the host's root and so
        # privileged over them; then the user namespace.
        for kind, fd in setup.ns_fds:
            if kind != "user":
                nslib.setns(fd, nslib.CLONE_FLAGS[kind], namespaces[kind]["path"])
        for kind, fd in setup.ns_fds:
            if kind == "user":
                nslib.setns(fd, nslib.CLONE_NEWUSER, namespaces[kind]["path"])
        # everything but the cgroup namespace now, while the parent builds the cgroup; a cgroup namespace
        # must be made after joining the cgroup, so that its root is the container's cgroup
        new_cgroupns = "cgroup" in namespaces and "path" not in namespaces["cgroup"]
        flags = 0
        for kind, entry in namespaces.items():
            if kind not in ("user", "cgroup") and "path" not in entry:
                flags |= nslib.CLONE_FLAGS[kind]
        if flags:
            nslib.unshare(flags)
        offsets = setup.linux.get("timeOffsets")
        if offsets and "time" in namespaces and "path" not in namespaces["time"]:
            with open("/proc/self/timens_offsets", "w") as f:
                for clock, value in offsets.items():
                    f.write(f"{clock} {value.get('secs', 0)} {value.get('nanosecs', 0)}\n")
        from ketch.runtime.process.init import InitContext, fork_reported, run_init

        go = channel.recv(GO)
        if setup.userns_new and _maps_root(setup.linux):
            os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)
        if new_cgroupns:
            nslib.unshare(nslib.CLONE_NEWCGROUP)
        if not setup.no_new_keyring:
            _new_session_keyring()
        ctx = InitContext(
            setup.cfg,
            setup.bundle,
            setup.rootfs,
            channel,
            fifo_fd=setup.fifo_fd,
            trampoline_fd=setup.trampoline_fd,
            console_fd=setup.console_fd,
            preserve_fds=setup.preserve_fds,
            no_pivot=setup.no_pivot,
            userns="user" in namespaces,
            cgroupns="cgroup" in namespaces,
            cgroup_paths=go["cgroups"],
            seccomp=setup.seccomp,
        )
        fork_reported(channel, lambda: run_init(ctx))
    except BaseException as exc:
        from ketch.runtime.process.init import _describe

        channel.send_error(_describe(exc))
        os._exit(1)


def _maps_root(linux: dict[str, Any]) -> bool:
    from ketch.runtime.userns import maps_root

    return maps_root(linux.get("uidMappings", [])) and maps_root(linux.get("gidMappings", []))


def _new_session_keyring() -> None:
    """Each container gets its own session keyring, so keys are not shared with the host (runc does this).
    Where keyctl is unavailable (old kernel, filtered host) the container goes on without."""
    import ctypes

    from ketch.linux._libc import NR, libc

    keyctl_join_session_keyring = 1
    libc.syscall(NR["keyctl"], keyctl_join_session_keyring, ctypes.c_char_p(None))


def _trampoline() -> int:
    """The sealed exec stub the init execs last (see init.exec_program); -1 on an architecture without one."""
    from ketch.linux.exec import exec_stub, sealed_memfd

    try:
        return sealed_memfd(exec_stub(), "ketch-exec")
    except KeyError:
        return -1


def _connect(path: str) -> int:
    import _socket

    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        sock.connect(path)
    except OSError as exc:
        sock.close()
        raise RuntimeFailure(f"--console-socket {path}: {exc.strerror}") from None
    return int(sock.detach())


def _hand_over_listener(channel: Channel, seccomp: Any, state_json: bytes) -> None:
    from ketch.runtime.seccomp import SeccompError, send_notify_fd

    fd = channel.recv_fd(SECCOMP_FD)
    try:
        send_notify_fd(seccomp.listener_path, fd, state_json, seccomp.listener_metadata)
    except SeccompError as exc:
        raise CreateFailed(str(exc)) from None
    finally:
        os.close(fd)


def _prepare_seccomp(profile: dict[str, Any] | None, root: str) -> Any:
    if not profile:
        return None
    import ketch.linux.seccomp  # noqa: F401 - the init loads the filter after pivot_root, when it cannot import
    from ketch.runtime.seccomp import SeccompError, prepare

    try:
        return prepare(profile, os.path.join(root, ".seccomp-cache"))
    except SeccompError as exc:
        raise ConfigInvalid(f"config.json: {exc}") from None


def public_state(state: dict[str, Any], status: str) -> dict[str, Any]:
    """The runtime-spec state object (runtime.md "State")."""
    out = {
        "ociVersion": state["ociVersion"],
        "id": state["id"],
        "status": status,
        "bundle": state["bundle"],
    }
    if status != "stopped" and state.get("pid"):
        out["pid"] = state["pid"]
    if state.get("annotations"):
        out["annotations"] = state["annotations"]
    return out


def _json(value: Any) -> bytes:
    from ketch._common import fastjson

    return fastjson.dumps(value).encode()
