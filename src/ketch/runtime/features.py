"""``features``: what this runtime implements, as runtime-spec features.md describes it. Only the truth:
an entry is listed once the code behind it exists and is tested."""

from __future__ import annotations

from ketch.runtime.rootfs.mounts import _FLAGS, PROPAGATION
from ketch.spec.runtime import NAMESPACE_TYPES
from ketch.spec.runtime_caps import CAPABILITY_NAMES

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["features"]


def features() -> dict[str, Any]:
    linux: dict[str, Any] = {
        "namespaces": list(NAMESPACE_TYPES),
        "capabilities": sorted(CAPABILITY_NAMES),
        "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False, "rdma": False},
        "apparmor": {"enabled": False},
        "selinux": {"enabled": False},
        "intelRdt": {"enabled": False},
        "mountExtensions": {"idmap": {"enabled": False}},
        "personality": {"domains": ["LINUX", "LINUX32"]},
        "scheduler": {"enabled": True},
        "ioPriority": {"enabled": True},
    }
    from ketch.runtime.seccomp.features import LIBSECCOMP_VERSION_ANNOTATION
    from ketch.runtime.seccomp.features import features as seccomp_features
    from ketch.runtime.seccomp.libseccomp import version as libseccomp_version

    linux["seccomp"] = seccomp_features()
    annotations = {"org.opencontainers.runtime.name": "ketch-runtime"}
    version = libseccomp_version()
    if version:
        annotations[LIBSECCOMP_VERSION_ANNOTATION] = version
    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.2.0",
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": sorted([*_FLAGS, *PROPAGATION, "tmpcopyup"]),
        "linux": linux,
        "annotations": annotations,
    }
