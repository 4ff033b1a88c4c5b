"""The container manager behind ``ketch run``, ``ps``, ``stop``, ``rm``...: records, root filesystems,
networks and volumes around an OCI runtime binary.

Layout::

    <root>/containers/<id>/record.json     the record (records.py)
    <root>/containers/<id>/bundle/         config.json + rootfs (the snapshot's overlay mount point)
    <root>/containers/<id>/ctr.log         output of detached containers (conmon, k8s-file)
    <run_root>/runtime/<runtime>/          the runtime's --root
    <run_root>/exits/<id>                  conmon's exit files
    <run_root>/netns/<id>                  network namespaces of bridge-networked containers
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

from ketch._common.atomicio import write_atomic
from ketch._common.jsonio import dumps_pretty
from ketch.engine.config import KNOWN_RUNTIMES, EngineConfig
from ketch.engine.errors import Conflict, EngineError, ImageUnavailable, NotFound, RuntimeFailed, UsageError
from ketch.engine.monitor import create_with_conmon, read_exit_file
from ketch.engine.ocirt import OciRuntime
from ketch.engine.options import RunOptions
from ketch.engine.records import ContainerRecord, ContainerStore
from ketch.engine.spec import build_config
from ketch.engine.volumes import VolumeStore
from ketch.image.errors import ImageError, ImageNotFound
from ketch.image.resolve import Image, load_image
from ketch.image.snapshot import default_snapshotter, snapshotters
from ketch.image.store import ImageStore
from ketch.linux.mount import MNT_DETACH, umount2

if TYPE_CHECKING:
    from ketch.engine.network import NetworkStore
    from ketch.engine.ocirt import Spawner

__all__ = ["Engine", "now"]


def now() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e6):06d}Z"


def _signal_number(name: str) -> int:
    text = name.upper()
    if text.isdigit():
        return int(text)
    if not text.startswith("SIG"):
        text = "SIG" + text
    try:
        return int(signal.Signals[text])
    except KeyError:
        raise UsageError(f"unknown signal {name!r}") from None


class Engine:
    def __init__(self, config: EngineConfig, spawn: Spawner | None = None) -> None:
        self.config = config
        self.spawn = spawn  # how runtime processes start (OciRuntime); None: subprocess.Popen
        self.root = config.root
        self.run_root = config.run_root
        if os.geteuid() != 0:
            raise EngineError("ketch's container commands need root", hint="run them with sudo or as root")
        self.containers = ContainerStore(self.root)
        self.volumes = VolumeStore(self.root)
        self._networks: NetworkStore | None = None
        self.images = ImageStore(self.root)
        self.exit_dir = os.path.join(self.run_root, "exits")
        os.makedirs(self.exit_dir, 0o700, exist_ok=True)

    # -- helpers ---------------------------------------------------------------------------------------

    @property
    def networks(self) -> NetworkStore:
        """The bridge networks, loaded on first use: ``--network none`` and ``host`` never need CNI."""
        if self._networks is None:
            from ketch.engine.network import NetworkStore

            self._networks = NetworkStore(self.root, self.run_root, self.config.cni_plugin_dir,
                                          self.config.default_subnet)  # fmt: skip
        return self._networks

    def runtime(self, name: str) -> OciRuntime:
        if os.sep not in name and name not in KNOWN_RUNTIMES and name not in self.config.runtime_paths:
            raise UsageError(f"--runtime {name!r} is not known", hint=f"one of {', '.join(KNOWN_RUNTIMES)}")
        binary = self.config.runtime_path(name)
        return OciRuntime(name, binary, os.path.join(self.run_root, "runtime", os.path.basename(name)), self.spawn)

    def resolve_image(self, name: str, platform: str | None) -> tuple[str, Image]:
        from ketch.image.platform import parse_platform

        try:
            record = self.images.resolve(name)
        except ImageNotFound:
            from ketch.spec.reference import InvalidReference, parse_reference

            try:
                tried = str(parse_reference(name))
            except InvalidReference:
                tried = name
            raise ImageUnavailable(
                f"image {name!r} not found locally (looked for {tried})",
                hint="pull it with 'ketch pull', import it with 'ketch image import', or use --pull missing",
            ) from None
        wanted = parse_platform(platform) if platform else None
        image = load_image(self.images.content, record.target, wanted)
        if wanted is not None and (image.config.os, image.config.architecture) != (wanted.os, wanted.architecture):
            # a single-manifest image has no index to choose from: its config says what it is. Not a
            # reason to pull on its own (the name is here): the user says so with ketch pull --platform.
            raise UsageError(
                f"image {record.name} is {image.config.os}/{image.config.architecture}, not {platform}",
                hint="pull the image for that platform (ketch pull --platform), or drop --platform",
            )
        return record.name, image

    # -- create / start --------------------------------------------------------------------------------

    def create(self, opts: RunOptions) -> ContainerRecord:
        image_name, image = self.resolve_image(opts.image, opts.platform)
        runtime = self.runtime(opts.runtime or self.config.default_runtime)
        cid = self.containers.new_id()
        name = opts.name or self.containers.random_name()
        network = opts.network
        if network not in ("none", "host"):
            self.networks.get(network)  # NotFound before anything is made
        elif opts.ports:
            raise UsageError(f"-p needs a bridge network, not --network {network}")
        for m in opts.mounts:
            if m.kind == "bind" and not os.path.exists(m.source):
                raise UsageError(f"-v {m.source}:{m.destination}: host path {m.source} does not exist")
        cc = image.config.config
        entrypoint = [opts.entrypoint] if opts.entrypoint else list((cc.entrypoint if cc else None) or [])
        command = entrypoint + (opts.command if opts.command is not None else list((cc.cmd if cc else None) or []))
        record = ContainerRecord(
            id=cid, name=name, image=image_name, image_digest=str(image.manifest_descriptor.digest),
            command=command, created=now(), runtime=runtime.name,
            bundle=os.path.join(self.containers.path(cid), "bundle"),
            log_path=os.path.join(self.containers.path(cid), "ctr.log"),
            snapshotter="", network=network, ports=list(opts.ports), auto_remove=opts.auto_remove, tty=opts.tty,
            stop_signal=(cc.stop_signal if cc and cc.stop_signal else "SIGTERM"), labels=dict(opts.labels),
            volumes=sorted({m.source for m in opts.mounts if m.kind == "volume"}),
        )  # fmt: skip
        self.containers.create(record)  # Conflict on the name, before any work
        try:
            self._materialise(record, image, opts)
        except BaseException:
            self._teardown(record)
            self.containers.remove(cid)
            raise
        self.containers.save(record)
        return record

    def _materialise(self, record: ContainerRecord, image: Image, opts: RunOptions) -> None:
        snap = default_snapshotter(self.root)
        record.snapshotter = snap.name
        self.containers.save(record)
        snap.prepare(record.id, self.images.content, image)
        rootfs = os.path.join(record.bundle, "rootfs")
        os.makedirs(rootfs, 0o755)
        snap.mount(record.id, rootfs)
        netns: str | None = None
        if record.network == "host":
            netns = "host"
        elif record.network != "none":
            from ketch.engine.network import create_netns

            netns = create_netns(os.path.join(self.run_root, "netns"), record.id)
            record.netns = netns
            self.containers.save(record)
            record.ip = self.networks.add(record.network, record.id, netns, record.ports)
        mounts = self._mounts(record, opts)
        hostname = opts.hostname or record.id[:12]
        cfg = build_config(image.config, rootfs, opts, container_id=record.id, netns=netns, hostname=hostname,
                           extra_mounts=mounts)  # fmt: skip
        write_atomic(os.path.join(record.bundle, "config.json"), dumps_pretty(cfg), durable=False)

    def _mounts(self, record: ContainerRecord, opts: RunOptions) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for m in opts.mounts:
            if m.kind == "tmpfs":
                out.append({"destination": m.destination, "type": "tmpfs", "source": "tmpfs",
                            "options": ["nosuid", "nodev", *(m.options or ["mode=1777"])]})  # fmt: skip
                continue
            source = m.source
            if m.kind == "volume":
                self.volumes.create(m.source, exist_ok=True)
                source = self.volumes.data_path(m.source)
            out.append({"destination": m.destination, "type": "bind", "source": source,
                        "options": ["rbind", "ro" if m.readonly else "rw"]})  # fmt: skip
        # /etc/hosts and /etc/resolv.conf: files of this container, bind-mounted over the image's
        cdir = self.containers.path(record.id)
        hostname = opts.hostname or record.id[:12]
        hosts = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
        if record.network == "host":
            hosts = [line.rstrip("\n") for line in _read_lines("/etc/hosts")] or hosts
        hosts.append(f"{record.ip or '127.0.1.1'}\t{hostname} {record.name}")
        write_atomic(os.path.join(cdir, "hosts"), ("\n".join(hosts) + "\n").encode(), durable=False)
        if opts.dns:
            resolv = [f"nameserver {d}" for d in opts.dns]
        else:
            resolv = [
                line.rstrip("\n") for line in _read_lines("/etc/resolv.conf")
                # a host's loopback resolver (127.0.0.53) is unreachable from another network namespace
                if record.network == "host" or not line.startswith("nameserver 127.")
            ]  # fmt: skip
        write_atomic(os.path.join(cdir, "resolv.conf"), ("\n".join(resolv) + "\n").encode(), durable=False)
        write_atomic(os.path.join(cdir, "hostname"), (hostname + "\n").encode(), durable=False)
        taken = {m["destination"] for m in out}
        for fname in ("hostname", "hosts", "resolv.conf"):
            if "/etc/" + fname not in taken:
                out.append({"destination": "/etc/" + fname, "type": "bind", "source": os.path.join(cdir, fname),
                            "options": ["rbind", "ro" if opts.read_only else "rw"]})  # fmt: skip
        return out

    def start_detached(self, record: ContainerRecord, *, keep_stdin: bool = False) -> None:
        runtime = self.runtime(record.runtime)
        exit_command = None
        if record.auto_remove:
            exit_command = [sys.executable, "-m", "ketch.cli.main", "--root", self.root,
                            "--run-root", self.run_root, "rm", "-f", record.id]  # fmt: skip
        try:
            os.unlink(os.path.join(self.exit_dir, record.id))
        except FileNotFoundError:
            pass
        record.pid = create_with_conmon(
            runtime, record.id, record.name, record.bundle, log_path=record.log_path, exit_dir=self.exit_dir,
            socket_dir=os.path.join(self.run_root, "socket"), state_dir=self.containers.path(record.id),
            tty=record.tty, stdin=keep_stdin, exit_command=exit_command,
        )  # fmt: skip
        record.monitor = "conmon"
        record.state = "running"
        record.started_at = now()
        record.finished_at = None
        record.exit_code = None
        self.containers.save(record)
        try:
            runtime.start(record.id)
        except RuntimeFailed:
            runtime.delete(record.id, force=True)
            record.state = "exited"
            record.exit_code = 127
            self.containers.save(record)
            raise

    def run_foreground(self, record: ContainerRecord, *, interactive: bool) -> int:
        """Run the container attached to our stdio; its exit code.

        With a terminal: ``create --console-socket`` and our own pty copying (console.py). Without: through
        ``RUNTIME run``, which passes our stdio on and forwards signals to the container."""
        runtime = self.runtime(record.runtime)
        record.monitor = "cli"
        record.state = "running"
        record.started_at = now()
        self.containers.save(record)
        if record.tty:
            from ketch.engine.console import run_with_console

            try:
                code = run_with_console(runtime, record.id, record.bundle, stdin=interactive)
            finally:
                record.state = "exited"
                record.finished_at = now()
                self.containers.save(record)
                runtime.delete(record.id, force=True)
            record.exit_code = code
            self.containers.save(record)
            return code
        stdin = None if interactive else subprocess.DEVNULL
        proc = runtime.popen("run", "--bundle", record.bundle, record.id, stdin=stdin)

        def forward(signum: int, frame: Any) -> None:
            try:
                proc.send_signal(signum)
            except ProcessLookupError:
                pass

        forwarded = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)
        previous = {s: signal.signal(s, forward) for s in forwarded}
        try:
            status: int = proc.wait()
        finally:
            for s, h in previous.items():
                signal.signal(s, h)
        code = 128 - status if status < 0 else status
        record.state = "exited"
        record.exit_code = code
        record.finished_at = now()
        self.containers.save(record)
        runtime.delete(record.id, force=True)
        return code

    # -- state -----------------------------------------------------------------------------------------

    def refresh(self, record: ContainerRecord) -> ContainerRecord:
        """Bring ``record.state`` up to date with the runtime and conmon's exit file."""
        if record.state != "running":
            return record
        code = read_exit_file(self.exit_dir, record.id) if record.monitor == "conmon" else None
        if code is None:
            state = self.runtime(record.runtime).state(record.id)
            if state is not None and state.get("status") in ("running", "created", "paused"):
                return record
            if record.monitor == "conmon":
                time.sleep(0.05)  # conmon writes the exit file just after the process is reaped
                code = read_exit_file(self.exit_dir, record.id)
        record.state = "exited"
        record.exit_code = code if code is not None else -1
        record.finished_at = record.finished_at or now()
        self.containers.save(record)
        return record

    def find(self, ref: str) -> ContainerRecord:
        return self.refresh(self.containers.find(ref))

    def containers_list(self, *, all_: bool) -> list[ContainerRecord]:
        out = []
        for r in self.containers.all():
            self.refresh(r)
            if all_ or r.state == "running":
                out.append(r)
        return out

    # -- lifecycle -------------------------------------------------------------------------------------

    def start(self, ref: str) -> ContainerRecord:
        record = self.find(ref)
        if record.state == "running":
            return record
        runtime = self.runtime(record.runtime)
        runtime.delete(record.id, force=True)
        self.start_detached(record)
        return record

    def kill(self, ref: str, sig: str = "SIGKILL") -> ContainerRecord:
        record = self.find(ref)
        number = _signal_number(sig)
        if record.state != "running":
            raise Conflict(f"container {record.name} is not running")
        if not self.runtime(record.runtime).kill(record.id, str(number), all_processes=True):
            self.refresh(record)
            if record.state == "running":
                raise RuntimeFailed(f"could not send {sig} to container {record.name}")
        return record

    def wait(self, ref: str, timeout: float | None = None) -> int | None:
        record = self.containers.find(ref)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                record = self.refresh(self.containers.load(record.id))
            except NotFound:
                return record.exit_code  # removed (--rm) meanwhile
            if record.state != "running":
                return record.exit_code
            if deadline is not None and time.monotonic() >= deadline:
                return None
            time.sleep(0.05)

    def stop(self, ref: str, timeout: float = 10.0) -> ContainerRecord:
        record = self.find(ref)
        if record.state != "running":
            return record
        runtime = self.runtime(record.runtime)
        runtime.kill(record.id, str(_signal_number(record.stop_signal)), all_processes=True)
        if self.wait(record.id, timeout) is None:
            runtime.kill(record.id, "9", all_processes=True)
            self.wait(record.id)
        return self.containers.load(record.id)

    def remove(self, ref: str, *, force: bool = False, volumes: bool = False) -> ContainerRecord:
        record = self.find(ref)
        if record.state == "running":
            if not force:
                raise Conflict(
                    f"container {record.name} is running", hint="stop it first, or remove it with 'ketch rm -f'"
                )
            self.runtime(record.runtime).kill(record.id, "9", all_processes=True)
            self.wait(record.id, 10)
        self._teardown(record)
        self.containers.remove(record.id)
        return record

    def _teardown(self, record: ContainerRecord) -> None:
        """Undo whatever of the container exists: runtime state, network, rootfs mount, snapshot."""
        try:
            self.runtime(record.runtime).delete(record.id, force=True)
        except EngineError:
            pass
        if record.netns:
            try:
                self.networks.delete(record.network, record.id, record.netns, record.ports)
            except EngineError:
                pass
            from ketch.engine.network import remove_netns

            remove_netns(record.netns)
        rootfs = os.path.join(record.bundle, "rootfs")
        if os.path.ismount(rootfs):
            umount2(rootfs, MNT_DETACH)
        for snap in snapshotters(self.root):
            if snap.name == record.snapshotter:
                try:
                    snap.remove(record.id)
                except ImageError:
                    pass
        try:
            os.unlink(os.path.join(self.exit_dir, record.id))
        except FileNotFoundError:
            pass
        _remove_cgroup(f"ketch-engine/{record.id}")

    def exec_argv(self, record: ContainerRecord, command: list[str], *, tty: bool, env: list[str],
                  user: str | None, workdir: str | None) -> list[str]:  # fmt: skip
        if record.state != "running":
            raise Conflict(f"container {record.name} is not running", hint=f"start it with 'ketch start {record.name}'")
        if not command:
            raise UsageError("exec: give the command to run")
        args = ["exec"]
        if tty:
            args.append("--tty")
        for e in env:
            args += ["--env", e]
        if user:
            args += ["--user", user]
        if workdir:
            args += ["--cwd", workdir]
        return self.runtime(record.runtime).argv(*args, record.id, *command)

    def users_of_volume(self, name: str) -> list[str]:
        return [r.name for r in self.containers.all() if name in r.volumes]

    def users_of_network(self, name: str) -> list[str]:
        return [r.name for r in self.containers.all() if r.network == name]


def _remove_cgroup(rel: str) -> None:
    """Remove the container's (empty) cgroup directories a runtime left behind; rmdir refuses busy ones."""
    base = "/sys/fs/cgroup"
    try:
        controllers = os.listdir(base)
    except OSError:
        return
    for path in [os.path.join(base, rel)] + [os.path.join(base, c, rel) for c in controllers]:
        try:
            os.rmdir(path)
        except OSError:
            continue


def _read_lines(path: str) -> list[str]:
    try:
        with open(path) as f:
            return f.readlines()
    except OSError:
        return []
