"""Small pure helpers of the managers: signals, port mappings, devices, pull credentials."""

from __future__ import annotations

import base64
import signal

import pytest
from cri_api.v1 import api_pb2 as pb

from ketch.cri.cni import PortMapping
from ketch.cri.containers import _devices, parse_signal
from ketch.cri.errors import InvalidArgument
from ketch.cri.images import PullAuth
from ketch.cri.registry_pull import credentials_from_auth
from ketch.cri.sandboxes import pod_ports


@pytest.mark.parametrize(("text", "number"), [
    ("SIGTERM", signal.SIGTERM), ("TERM", signal.SIGTERM), ("15", 15), ("sigusr1", signal.SIGUSR1),
    ("SIGRTMIN+3", signal.SIGRTMIN + 3), ("SIGRTMAX-1", signal.SIGRTMAX - 1),
])
def test_parse_signal(text: str, number: int) -> None:
    assert parse_signal(text) == number


def test_parse_signal_refuses_unknown_names() -> None:
    with pytest.raises(InvalidArgument, match="SIGNOPE"):
        parse_signal("SIGNOPE")


def test_pod_ports() -> None:
    cfg = pb.PodSandboxConfig(port_mappings=[
        pb.PortMapping(container_port=80, host_port=8080),
        pb.PortMapping(protocol=pb.UDP, container_port=53, host_port=5353, host_ip="127.0.0.1"),
        pb.PortMapping(container_port=9090),  # no host port: nothing to map
    ])
    assert pod_ports(cfg) == [PortMapping(8080, 80, "tcp"), PortMapping(5353, 53, "udp", "127.0.0.1")]
    bad = pb.PodSandboxConfig(port_mappings=[pb.PortMapping(container_port=0, host_port=80)])
    with pytest.raises(InvalidArgument, match=r"port_mappings\[0\]"):
        pod_ports(bad)


def test_devices() -> None:
    cfg = pb.ContainerConfig(devices=[pb.Device(container_path="/dev/xnull", host_path="/dev/null",
                                                permissions="rw")])
    (dev,) = _devices(cfg)
    assert (dev["path"], dev["type"], dev["major"], dev["minor"], dev["_access"]) == ("/dev/xnull", "c", 1, 3, "rw")
    for bad, msg in [(pb.Device(container_path="/dev/x", host_path="/dev/nope"), "does not exist"),
                     (pb.Device(container_path="/dev/x", host_path="/etc/hostname"), "is not a device"),
                     (pb.Device(container_path="dev/x", host_path="/dev/null"), "absolute"),
                     (pb.Device(container_path="/dev/x", host_path="/dev/null", permissions="rwx"), "rwm")]:
        with pytest.raises(InvalidArgument, match=msg):
            _devices(pb.ContainerConfig(devices=[bad]))


def test_credentials_from_auth() -> None:
    creds = credentials_from_auth(PullAuth(username="u", password="p"))
    assert creds is not None and (creds.username, creds.password) == ("u", "p")
    packed = base64.b64encode(b"kube:s3:cret").decode()
    creds = credentials_from_auth(PullAuth(auth=packed))
    assert creds is not None and (creds.username, creds.password) == ("kube", "s3:cret")
    token = credentials_from_auth(PullAuth(registry_token="tok"))
    assert token is not None and token.password == "tok"
    assert credentials_from_auth(PullAuth()) is None
    with pytest.raises(InvalidArgument, match="base64"):
        credentials_from_auth(PullAuth(auth="%%%"))
    with pytest.raises(InvalidArgument, match="user:password"):
        credentials_from_auth(PullAuth(auth=base64.b64encode(b"nocolon").decode()))
