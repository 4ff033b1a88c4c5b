"""Start a ketchd or a containerd CRI on private directories, with offline busybox test images, so tests
and benchmarks can run the same client against both.

Everything lives under one base directory (``/tmp/kcri-*``): roots, state, sockets, CNI config (a bridge
network on a private range), logs. Nothing is sent anywhere but inside network namespaces the daemons
create.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ketch.cri.client import CriClient
from ketch.image.archive import export_docker_archive
from ketch.image.build import image_from_dir
from ketch.image.store import ImageStore
from ketch.spec.image import ContainerConfig

__all__ = ["BUSYBOX", "BUSYBOX_USR1", "PAUSE", "Daemon", "build_images", "free_network", "remove_bridge",
           "start_containerd", "start_ketchd"]

BUSYBOX = "localhost/ketch-test/busybox:1"
BUSYBOX_USR1 = "localhost/ketch-test/busybox-usr1:1"  # StopSignal SIGUSR1
PAUSE = "localhost/ketch-test/pause:1"  # containerd's sandbox image


@dataclass
class Daemon:
    name: str
    socket: str
    proc: subprocess.Popen[bytes]
    base: str
    log: str
    env: dict[str, str] = field(default_factory=dict)

    def client(self) -> CriClient:
        return CriClient(self.socket)

    def stop(self, timeout: float = 20) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def rss_kib(self) -> int:
        """Resident memory of the daemon (for containerd also its shims, which are per pod)."""
        return _rss(self.proc.pid)

    def log_tail(self, n: int = 40) -> str:
        try:
            with open(self.log, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def build_images(store_root: str, make_rootfs: Callable[[str], str]) -> ImageStore:
    """The test images, built offline by ``make_rootfs`` (``ketch.testing.make_rootfs``: Debian's
    busybox-static), which the caller hands in (the cri package does not import the test kit)."""
    store = ImageStore(store_root)
    with tempfile.TemporaryDirectory(prefix="kcri-img-") as tmp:
        rootfs = make_rootfs(os.path.join(tmp, "rootfs"))
        os.makedirs(os.path.join(rootfs, "www"), exist_ok=True)
        with open(os.path.join(rootfs, "www", "index.html"), "w") as f:
            f.write("hello from ketch\n")
        env = ["PATH=/bin:/sbin:/usr/bin"]
        image_from_dir(store, rootfs, BUSYBOX, config=ContainerConfig(cmd=["sh"], env=env))
        image_from_dir(store, rootfs, BUSYBOX_USR1,
                       config=ContainerConfig(cmd=["sh"], env=env, stop_signal="SIGUSR1"))
        image_from_dir(store, rootfs, PAUSE, config=ContainerConfig(entrypoint=["sleep", "infinity"], env=env))
    return store


def _conflist(path: str, name: str, bridge: str, subnet: str, ipam_dir: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    doc = {"cniVersion": "1.0.0", "name": name, "plugins": [
        {"type": "bridge", "bridge": bridge, "isGateway": True, "ipMasq": False, "hairpinMode": True,
         "ipam": {"type": "host-local", "ranges": [[{"subnet": subnet}]], "routes": [{"dst": "0.0.0.0/0"}],
                  "dataDir": ipam_dir}},
        {"type": "portmap", "capabilities": {"portMappings": True}},
    ]}
    with open(path, "w") as f:
        json.dump(doc, f, indent=2)


def _wait_socket(d: Daemon, deadline: float = 60) -> None:
    end = time.monotonic() + deadline
    while not os.path.exists(d.socket):
        if d.proc.poll() is not None:
            raise RuntimeError(f"{d.name} exited {d.proc.returncode}:\n{d.log_tail()}")
        if time.monotonic() > end:
            d.stop()
            raise RuntimeError(f"{d.name} did not listen on {d.socket}:\n{d.log_tail()}")
        time.sleep(0.05)
    with d.client() as c:
        c.wait_ready()


def start_ketchd(base: str, make_rootfs: Callable[[str], str], *, handler: str = "runc", subnet: str = "10.77.0.0/17", bridge: str = "kcri0",
                 extra_config: str = "") -> Daemon:
    """ketchd on ``base`` (images built there on first use); ``handler`` is the default runtime handler."""
    root, state = os.path.join(base, "root"), os.path.join(base, "state")
    image_root = os.path.join(root, "image")
    if not os.path.exists(os.path.join(image_root, "images.json")):
        build_images(image_root, make_rootfs)
    conf_dir = os.path.join(base, "net.d")
    if not os.path.isdir(conf_dir):
        _conflist(os.path.join(conf_dir, "10-kcri.conflist"), "kcri", bridge, subnet,
                  os.path.join(root, "cni", "ipam"))
    ketch_runtime = shutil.which("ketch-runtime") or os.path.join(os.path.dirname(sys.executable), "ketch-runtime")
    cfg = os.path.join(base, "ketchd.toml")
    with open(cfg, "w") as f:
        f.write(f'[runtime]\ndefault_handler = "{handler}"\n'
                f'[runtime.handlers.ketch]\npath = "{ketch_runtime}"\n'
                f'[cni]\nconf_dir = "{conf_dir}"\nsubnet = "{subnet}"\nbridge = "{bridge}"\n'
                f'[image]\nroot = "{image_root}"\n{extra_config}')
    sock = os.path.join(state, "ketchd.sock")
    log = os.path.join(base, "ketchd.log")
    env = dict(os.environ)
    src = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ketch.cli.daemon", "--listen", "unix://" + sock, "--root", root,
             "--state", state, "--config", cfg, "--log-level", "warning"],
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    d = Daemon("ketchd", sock, proc, base, log, env)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(sock)
    _wait_socket(d)
    return d


def start_containerd(base: str, make_rootfs: Callable[[str], str], *, subnet: str = "10.77.128.0/17", bridge: str = "kcri1") -> Daemon:
    """containerd 1.6+ with its CRI plugin on ``base``, CNI from /usr/lib/cni, the pause image imported."""
    root, state = os.path.join(base, "root"), os.path.join(base, "state")
    conf_dir = os.path.join(base, "net.d")
    _conflist(os.path.join(conf_dir, "10-kcri.conflist"), "kcri-ctd", bridge, subnet,
              os.path.join(root, "cni", "ipam"))
    sock = os.path.join(base, "containerd.sock")
    cfg = os.path.join(base, "containerd.toml")
    with open(cfg, "w") as f:
        f.write(f"""version = 2
root = "{root}"
state = "{state}"
[grpc]
  address = "{sock}"
[ttrpc]
  address = "{sock}.ttrpc"
[debug]
  address = "{sock}.debug"
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE}"
  restrict_oom_score_adj = true
  disable_apparmor = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{conf_dir}"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
""")
    log = os.path.join(base, "containerd.log")
    with open(log, "ab") as out:
        proc = subprocess.Popen(["containerd", "--config", cfg], stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    d = Daemon("containerd", sock, proc, base, log)
    _wait_socket(d)
    archive = os.path.join(base, "images.tar")
    if not os.path.exists(archive):
        store = build_images(os.path.join(base, "ketch-images"), make_rootfs)
        export_docker_archive(store, [BUSYBOX, BUSYBOX_USR1, PAUSE], archive)
    subprocess.run(["ctr", "-a", sock, "-n", "k8s.io", "images", "import", "--no-unpack", archive], check=True,
                   capture_output=True)
    # The CRI plugin learns of imported images from containerd's events: wait until it sees them all.
    from ketch.cri.client import pb

    with d.client() as c:
        end = time.monotonic() + 30
        for name in (BUSYBOX, BUSYBOX_USR1, PAUSE):
            while not c.call("ImageStatus", pb.ImageStatusRequest(image=pb.ImageSpec(image=name)),
                             image=True).HasField("image"):
                if time.monotonic() > end:
                    raise RuntimeError(f"containerd's CRI does not list {name} after the import")
                time.sleep(0.05)
    return d


def free_network() -> tuple[str, str]:
    """A bridge name and a /24 of 10.77.0.0/16 that no interface on this host uses (tests running side by
    side get networks of their own)."""
    import random

    taken = set(os.listdir("/sys/class/net"))
    used = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True).stdout
    octets = list(range(1, 255))
    random.shuffle(octets)
    for x in octets:
        bridge, prefix = f"kcri{x}", f"10.77.{x}."
        if bridge not in taken and f" {prefix}" not in used:
            return bridge, f"{prefix}0/24"
    raise RuntimeError("no free /24 left in 10.77.0.0/16")


def remove_bridge(name: str) -> None:
    """Delete a bridge a test network created (the bridge plugin never removes it), if it exists."""
    if os.path.exists(f"/sys/class/net/{name}"):
        subprocess.run(["ip", "link", "del", name], check=False, capture_output=True)


def containerd_shims_rss_kib(base: str) -> int:
    """Memory of the containerd shims started for ``base`` (matched by their -address argument)."""
    total = 0
    sock = os.path.join(base, "containerd.sock")
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"containerd-shim-runc-v2") and sock.encode() in argv:
            total += _rss(int(pid))
    return total
