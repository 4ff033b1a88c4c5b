"""The container's init: what runs in the new namespaces, from fork to the exec of the container's program.

It is a list of small named steps, run in order by :func:`run_init`. The order is the point of this module;
each step says why it sits where it does. The init is a forked copy of the runtime: it must import nothing
after ``pivot_root`` (the host's Python is gone by then), so everything it needs is imported by the parent.
"""

from __future__ import annotations

import errno
import os

from ketch.linux import mount as m
from ketch.linux import prctl, sched, signals
from ketch.linux.exec import execve_fd
from ketch.linux.fd import CLOSE_RANGE_CLOEXEC, close_range, fd_path
from ketch.runtime import capabilities, rlimits
from ketch.runtime.execpath import lookup
from ketch.runtime.hooks import run_hooks
from ketch.runtime.process.channel import Channel
from ketch.runtime.process.messages import HOOKS_DONE, INIT_PID, MOUNTS_READY, READY, SECCOMP_FD
from ketch.runtime.rootfs import devices, finalize, mounts, pivot

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = ["InitContext", "run_init"]


class InitContext:
    """Everything the init needs, prepared by the parent before fork."""

    def __init__(
        self,
        config: dict[str, Any],
        bundle: str,
        rootfs: str,
        channel: Channel,
        *,
        fifo_fd: int,
        trampoline_fd: int,
        console_fd: int,
        preserve_fds: int,
        no_pivot: bool,
        userns: bool,
        cgroupns: bool,
        cgroup_paths: dict[str, str],
        seccomp: Any = None,
    ) -> None:
        self.config = config
        self.process: dict[str, Any] = config["process"]
        self.linux: dict[str, Any] = config.get("linux", {})
        self.bundle = bundle
        self.rootfs = rootfs
        self.channel = channel
        self.fifo_fd = fifo_fd
        self.trampoline_fd = trampoline_fd
        self.console_fd = console_fd
        self.preserve_fds = preserve_fds
        self.no_pivot = no_pivot
        self.userns = userns
        self.cgroupns = cgroupns
        self.cgroup_paths = cgroup_paths
        self.seccomp = seccomp
        self.state_json = b"{}"
        self.program = ""
        self.rootfd = -1


# -- before pivot_root: the host's filesystem is still visible ---------------------------------------------


def isolate_mounts(ctx: InitContext) -> None:
    """First: nothing this process mounts may propagate back to the host. runc's default is rslave."""
    prop = ctx.linux.get("rootfsPropagation")
    flags = mounts.PROPAGATION.get(prop, m.MS_SLAVE | m.MS_REC) if prop else m.MS_SLAVE | m.MS_REC
    if flags & m.MS_SHARED:
        flags = m.MS_SLAVE | m.MS_REC  # made shared again after pivot_root; pivot_root refuses shared parents
    m.mount(None, "/", None, flags)


def bind_rootfs(ctx: InitContext) -> None:
    """pivot_root needs the new root to be a mount point: bind the rootfs onto itself."""
    m.mount(ctx.rootfs, ctx.rootfs, None, m.MS_BIND | m.MS_REC)
    ctx.rootfd = os.open(ctx.rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)


def mount_config_mounts(ctx: InitContext) -> None:
    """config.json's mounts, in order (a later mount may land inside an earlier one, /dev then /dev/pts)."""
    mctx = mounts.MountContext(
        ctx.rootfd,
        ctx.rootfs,
        ctx.bundle,
        userns=ctx.userns,
        cgroupns=ctx.cgroupns,
        cgroup_paths=ctx.cgroup_paths,
    )
    mounts.mount_all(ctx.config.get("mounts", []), mctx)


def make_devices(ctx: InitContext) -> None:
    """After the mounts, since /dev is usually a tmpfs mounted just now. Default devices and /dev links only
    when the config mounts /dev itself (otherwise /dev is the image's, as runc leaves it)."""
    if any(mt["destination"].rstrip("/") == "/dev" for mt in ctx.config.get("mounts", [])):
        devices.create_devices(ctx.rootfd, devices.DEFAULT_DEVICES, userns=ctx.userns)
        devices.create_dev_symlinks(ctx.rootfd)
    devices.create_devices(ctx.rootfd, ctx.linux.get("devices", []), userns=ctx.userns)


def create_container_hooks(ctx: InitContext) -> None:
    """The parent runs prestart and createRuntime hooks once the namespaces exist; then createContainer hooks
    run here, in the container's namespaces but before pivot_root (runtime-spec config.md)."""
    ctx.channel.send(MOUNTS_READY)
    msg = ctx.channel.recv(HOOKS_DONE)
    ctx.state_json = msg["state"].encode()
    run_hooks(ctx.config.get("hooks"), "createContainer", ctx.state_json)


def switch_root(ctx: InitContext) -> None:
    """From here on the host's files are out of reach."""
    if ctx.no_pivot:
        pivot.move_root(ctx.rootfs)
    else:
        pivot.pivot_root(ctx.rootfs)
    os.close(ctx.rootfd)
    ctx.rootfd = -1
    prop = ctx.linux.get("rootfsPropagation")
    if prop in ("shared", "rshared"):
        m.mount(None, "/", None, mounts.PROPAGATION[prop])


# -- after pivot_root -----------------------------------------------------------------------------------------


def set_sysctls(ctx: InitContext) -> None:
    """Needs the container's /proc (mounted above), and must precede readonlyPaths, which usually covers
    /proc/sys."""
    finalize.write_sysctls(ctx.linux.get("sysctl", {}))


def mask_and_protect_paths(ctx: InitContext) -> None:
    finalize.readonly_paths(ctx.linux.get("readonlyPaths", []))
    finalize.mask_paths(ctx.linux.get("maskedPaths", []))


def set_hostname(ctx: InitContext) -> None:
    if ctx.config.get("hostname"):
        prctl.sethostname(ctx.config["hostname"])
    if ctx.config.get("domainname"):
        prctl.setdomainname(ctx.config["domainname"])


def setup_console(ctx: InitContext) -> None:
    """A terminal from the container's own devpts: the master goes to whoever listens on the console socket,
    the slave becomes stdio and the controlling terminal, and /dev/console points at it."""
    if not ctx.process.get("terminal"):
        return
    from ketch.linux import term

    master, slave = term.open_pty("/dev/ptmx")
    try:
        size = ctx.process.get("consoleSize")
        if size:
            import fcntl
            import struct
            import termios

            fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size["height"], size["width"], 0, 0))
        pts = os.readlink(fd_path(slave))
        term.send_fd(ctx.console_fd, master, pts.encode())
    finally:
        os.close(master)
    os.close(ctx.console_fd)
    ctx.console_fd = -1
    try:
        fd = os.open("/dev/console", os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o600)
        os.close(fd)
        m.mount(pts, "/dev/console", None, m.MS_BIND)
    except OSError:
        pass  # /dev/console is optional (a read-only /dev); the terminal itself works without it
    for target in (0, 1, 2):
        os.dup2(slave, target)
    os.close(slave)
    from ketch.linux.term import set_controlling_tty

    set_controlling_tty(0)


def protect_root(ctx: InitContext) -> None:
    """Read-only root last among the mounts: every mount point above had to be created first."""
    if ctx.config["root"].get("readonly"):
        finalize.readonly_root()


def set_oom_score_adj(ctx: InitContext) -> None:
    if "oomScoreAdj" in ctx.process:
        try:
            with open("/proc/self/oom_score_adj", "w") as f:
                f.write(str(ctx.process["oomScoreAdj"]))
        except OSError as exc:
            raise OSError(exc.errno, f"process.oomScoreAdj: {exc.strerror}") from exc


def set_rlimits(ctx: InitContext) -> None:
    """Before dropping privileges: raising a hard limit may need them."""
    rlimits.apply_rlimits(ctx.process.get("rlimits", []))


def set_scheduling(ctx: InitContext) -> None:
    """process.scheduler, process.ioPriority and linux.personality (runtime-spec 1.1+): inherited across exec,
    set while the init still has CAP_SYS_NICE for real-time policies."""

    policy = ctx.process.get("scheduler")
    if policy:
        flags = 0
        for name in policy.get("flags", []):
            flags |= sched.SCHED_FLAGS[name]
        try:
            sched.sched_setattr(
                sched.SCHED_POLICIES[policy["policy"]],
                flags=flags,
                nice=policy.get("nice", 0),
                priority=policy.get("priority", 0),
                runtime=policy.get("runtime", 0),
                deadline=policy.get("deadline", 0),
                period=policy.get("period", 0),
            )
        except OSError as exc:
            raise OSError(exc.errno, f"process.scheduler: {exc.strerror}") from exc
    io = ctx.process.get("ioPriority")
    if io:
        try:
            sched.ioprio_set(sched.IOPRIO_CLASSES[io["class"]], io.get("priority", 0))
        except OSError as exc:
            raise OSError(exc.errno, f"process.ioPriority: {exc.strerror}") from exc
    persona = ctx.linux.get("personality")
    if persona:
        try:
            sched.personality(sched.PERSONALITIES[persona["domain"]])
        except OSError as exc:
            raise OSError(exc.errno, f"linux.personality: {exc.strerror}") from exc


def close_leaked_fds(ctx: InitContext) -> None:
    """No host file descriptor may reach the container, and none may be used to leave it, e.g. a cwd of
    /proc/self/fd/N (CVE-2024-21626). Every fd above the preserved ones becomes close-on-exec now, before
    the working directory is entered; stdio and the preserved fds stay."""
    first = 3 + ctx.preserve_fds
    close_range(first, 0xFFFFFFFF, CLOSE_RANGE_CLOEXEC)
    for fd in range(3, first):
        try:
            os.set_inheritable(fd, True)
        except OSError as exc:
            raise OSError(exc.errno, f"--preserve-fds: fd {fd} is not open") from exc


def make_cwd(ctx: InitContext) -> None:
    """The working directory is created if missing (as runc does), before the root may turn read-only."""
    try:
        os.makedirs(ctx.process["cwd"], 0o755, exist_ok=True)
    except OSError:
        pass  # not creatable (a file in the way, a read-only image): entering it below says why


def find_program(ctx: InitContext) -> None:
    """Fail at create time, not at start, when the program does not exist (as runc does)."""
    _enter_cwd(ctx.process["cwd"])
    ctx.program = lookup(ctx.process["args"][0], ctx.process.get("env", []))


def _enter_cwd(cwd: str) -> None:
    try:
        os.chdir(cwd)
    except OSError as exc:
        raise OSError(exc.errno, f"process.cwd {cwd!r}: {exc.strerror}") from exc
    try:
        # CVE-2024-21626: a cwd reached through a leaked fd lies outside the root; getcwd then fails
        os.getcwd()
    except FileNotFoundError as exc:
        raise OSError(errno.ENOENT, f"process.cwd {cwd!r} is not inside the container") from exc


def change_user(ctx: InitContext) -> None:
    """Bounding set first (needs CAP_SETPCAP), then groups and ids keeping capabilities, then the five sets.
    The working directory is entered again as the user, so its permissions apply to the user."""
    caps = ctx.process.get("capabilities")
    if caps is not None:
        capabilities.apply_bounding(caps)
    user = ctx.process.get("user", {})
    uid, gid = user.get("uid", 0), user.get("gid", 0)
    prctl.set_keepcaps(True)
    try:
        os.setgroups(user.get("additionalGids", []))
    except PermissionError:
        if not ctx.userns:
            raise
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    prctl.set_keepcaps(False)
    if caps is not None:
        capabilities.apply_sets(caps)
    if "umask" in user:
        os.umask(user["umask"])
    _enter_cwd(ctx.process["cwd"])


def no_new_privileges(ctx: InitContext) -> None:
    if ctx.process.get("noNewPrivileges"):
        prctl.set_no_new_privs()


def report_ready(ctx: InitContext) -> None:
    """The container is created. Nothing after this can be reported to ``create``: errors go to stderr."""
    ctx.channel.send(READY)
    ctx.channel.close()


def wait_for_start(ctx: InitContext) -> None:
    """Block until ``start`` writes its byte into the exec fifo (runtime-spec: the program must not run
    before start). The fifo was opened read-write by the parent, so no /proc lookup is needed here: a
    non-dumpable process in a user namespace cannot reach its own /proc/self/fd."""
    while True:
        try:
            if os.read(ctx.fifo_fd, 1):
                break
        except InterruptedError:
            continue
    os.close(ctx.fifo_fd)


def start_container_hooks(ctx: InitContext) -> None:
    """In the container, after start, before the program (runtime-spec); the state says "created", as runc's."""
    if ctx.config.get("hooks", {}).get("startContainer"):
        from ketch._common import fastjson  # loaded already (the channel uses it): no import after pivot_root

        state = fastjson.loads(ctx.state_json)
        state["status"] = "created"
        run_hooks(ctx.config.get("hooks"), "startContainer", fastjson.dumps(state).encode())


def seccomp_listener(ctx: InitContext) -> None:
    """SCMP_ACT_NOTIFY: the filter is loaded now, during create, so that the listener fd can reach the agent
    at listenerPath while ``create`` still runs (runtime-spec config-linux.md "Seccomp"); the rest of the
    init then runs under the filter, as runc's does."""
    prog = ctx.seccomp
    if prog is None or not prog.notify:
        return
    if ctx.process.get("noNewPrivileges"):
        prctl.set_no_new_privs()
    from ketch.linux.seccomp import load_filter  # loaded by the parent when there is a profile

    fd = load_filter(prog.bpf, prog.flags)
    ctx.channel.send_fd(SECCOMP_FD, fd)
    os.close(fd)


def seccomp_privileged(ctx: InitContext) -> None:
    """Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: load it before the capabilities go (the
    filter must then allow what the rest of the init does, as with runc)."""
    prog = ctx.seccomp
    if prog is not None and not prog.notify and not ctx.process.get("noNewPrivileges"):
        from ketch.linux.seccomp import load_filter

        load_filter(prog.bpf, prog.flags)


def seccomp_last(ctx: InitContext) -> None:
    """With no_new_privs, the filter comes last before exec, so it constrains the program and nothing the
    runtime still has to do."""
    prog = ctx.seccomp
    if prog is not None and not prog.notify and ctx.process.get("noNewPrivileges"):
        from ketch.linux.seccomp import load_filter

        load_filter(prog.bpf, prog.flags)


def exec_program(ctx: InitContext) -> None:
    """exec a sealed in-memory stub, which execs the program found by find_program: the container never sees
    a host binary through /proc/<pid>/exe (CVE-2019-5736)."""
    args = ctx.process["args"]
    env = ctx.process.get("env", [])
    if ctx.trampoline_fd >= 0:
        execve_fd(ctx.trampoline_fd, [ctx.program, *args], env)
    os.execve(ctx.program, args, dict(item.split("=", 1) for item in env))  # no stub for this architecture


BEFORE_READY = (
    isolate_mounts,
    bind_rootfs,
    mount_config_mounts,
    make_devices,
    create_container_hooks,
    switch_root,
    set_sysctls,
    mask_and_protect_paths,
    set_hostname,
    setup_console,
    make_cwd,
    protect_root,
    set_oom_score_adj,
    set_rlimits,
    set_scheduling,
    close_leaked_fds,
    find_program,
    seccomp_listener,
    report_ready,
)
# The user and capabilities change only after start, so startContainer hooks run with the init's privileges.
AFTER_READY = (
    wait_for_start,
    start_container_hooks,
    seccomp_privileged,
    change_user,
    no_new_privileges,
    seccomp_last,
    exec_program,
)


def run_init(ctx: InitContext) -> None:
    """Never returns: execs the program, or exits non-zero after reporting the failure."""

    def prepare() -> None:
        os.setsid()
        for sig in signals.FORWARDABLE:
            signals.set_handler(sig, signals.SIG_DFL)

    run_steps(ctx, prepare, BEFORE_READY, AFTER_READY, "ketch-runtime init")


def run_steps(
    ctx: InitContext,
    prepare: Callable[[], None],
    before: tuple[Callable[[InitContext], None], ...],
    after: tuple[Callable[[InitContext], None], ...],
    label: str,
) -> None:
    """Run ``before`` (failures reported to the parent over the channel), then ``after`` (which ends in exec;
    failures go to stderr, as nobody waits on the channel any more). Never returns."""
    try:
        # While this process is still a copy of the runtime, processes in the container must not be able to
        # open /proc/<pid>/exe or attach to it (CVE-2019-5736). exec resets this.
        prctl.set_dumpable(False)
        prepare()
        for step in before:
            step(ctx)
    except BaseException as exc:
        ctx.channel.send_error(_describe(exc))
        os._exit(1)
    try:
        for step in after:
            step(ctx)
    except BaseException as exc:
        try:
            os.write(2, f"{label}: {_describe(exc)}\n".encode())
        except OSError:
            pass
    os._exit(127)


def fork_reported(channel: Channel, target: Callable[[], None]) -> None:
    """Fork ``target`` (which never returns), report its pid as INIT_PID and exit. The new process waits on
    a pipe until the report is sent: both write to one socket, and INIT_PID must come first."""
    hold_r, hold_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        os.close(hold_w)
        os.read(hold_r, 1)
        os.close(hold_r)
        target()
    os.close(hold_r)
    channel.send(INIT_PID, pid=pid)
    os.write(hold_w, b"1")
    os._exit(0)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror if exc.filename is None else f"{exc.strerror}: {exc.filename}"
        return text
    return str(exc) or type(exc).__name__

