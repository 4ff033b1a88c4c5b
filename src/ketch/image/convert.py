"""Image config -> runtime-spec config.json, per image-spec conversion.md, on top of ketch's defaults."""

from __future__ import annotations

import copy
from typing import Any

from ketch.image.errors import ConvertError
from ketch.image.userdb import resolve_user
from ketch.spec.image import ImageConfig
from ketch.spec.runtime_defaults import default_config

__all__ = ["runtime_config"]

_PREFIX = "org.opencontainers.image."


def _env_name(item: str) -> str:
    return item.partition("=")[0]


def runtime_config(
    image: ImageConfig,
    rootfs: str,
    *,
    terminal: bool = False,
    args: list[str] | None = None,
    volumes: str = "tmpfs",
    volume_sources: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The runtime config for running ``image`` with its root filesystem unpacked at ``rootfs``.

    ``rootfs`` is only read (for /etc/passwd and /etc/group, resolved inside it). ``args`` replaces the
    image's Cmd (as ``docker run IMAGE ARGS`` does). ``volumes``: ``"tmpfs"`` mounts a tmpfs on each
    Config.Volumes path (conversion.md: application data not written to the rootfs), ``"copy"`` bind-mounts
    the directories ``volume_sources`` maps each path to (seeded from the image by ``seed_volumes``),
    ``"none"`` skips them.
    """
    if volumes not in ("tmpfs", "copy", "none"):
        raise ValueError(f"volumes must be 'tmpfs', 'copy' or 'none', not {volumes!r}")
    cc = image.config
    cfg = default_config(terminal=terminal)
    process = cfg["process"]
    cfg["root"] = {"path": "rootfs", "readonly": False}

    # Verbatim fields: Entrypoint + Cmd -> args (note 2: Cmd appended to Entrypoint).
    entrypoint = list(cc.entrypoint or []) if cc else []
    cmd = list(cc.cmd or []) if cc else []
    if args is not None:
        cmd = list(args)
    process["args"] = entrypoint + cmd
    if not process["args"]:
        raise ConvertError("image has neither Config.Entrypoint nor Config.Cmd: give the command to run")

    # Env: the image's, then ketch's defaults only for names the image does not set (note 1).
    env = list(cc.env or []) if cc else []
    names = {_env_name(e) for e in env}
    env += [e for e in process["env"] if _env_name(e) not in names]
    process["env"] = env
    process["cwd"] = cc.working_dir if cc and cc.working_dir else "/"
    if not process["cwd"].startswith("/"):
        raise ConvertError(f"Config.WorkingDir {process['cwd']!r} is not an absolute path")

    # Parsed field: User (through the image's own passwd/group).
    user = resolve_user(rootfs, cc.user if cc else None)
    process["user"] = {"uid": user.uid, "gid": user.gid}
    if user.additional_gids:
        process["user"]["additionalGids"] = user.additional_gids

    # Annotations: implicit ones first, Config.Labels take precedence over them.
    ann: dict[str, str] = {_PREFIX + "os": image.os, _PREFIX + "architecture": image.architecture}
    if image.variant:
        ann[_PREFIX + "variant"] = image.variant
    if image.os_version:
        ann[_PREFIX + "os.version"] = image.os_version
    if image.os_features:
        ann[_PREFIX + "os.features"] = ",".join(image.os_features)
    if image.author:
        ann[_PREFIX + "author"] = image.author
    if image.created:
        ann[_PREFIX + "created"] = image.created
    if cc and cc.stop_signal:
        ann[_PREFIX + "stopSignal"] = cc.stop_signal
    if cc and cc.exposed_ports:
        ann[_PREFIX + "exposedPorts"] = ",".join(cc.exposed_ports)
    if cc and cc.labels:
        ann.update(cc.labels)
    cfg["annotations"] = ann

    # Optional field: Volumes -> mounts.
    if cc and cc.volumes and volumes != "none":
        taken = {m["destination"] for m in cfg["mounts"]}
        for dest in sorted(cc.volumes):
            if not dest.startswith("/"):
                raise ConvertError(f"Config.Volumes entry {dest!r} is not an absolute path")
            if dest in taken:
                continue
            if volumes == "tmpfs":
                cfg["mounts"].append(
                    {
                        "destination": dest,
                        "type": "tmpfs",
                        "source": "tmpfs",
                        "options": ["nosuid", "nodev", "mode=755"],
                    }
                )
                continue
            source = (volume_sources or {}).get(dest)
            if source is None:
                raise ConvertError(f"Config.Volumes entry {dest!r} has no seeded directory")
            cfg["mounts"].append(
                {"destination": dest, "type": "bind", "source": source, "options": ["rbind", "rw"]}
            )
    return copy.deepcopy(cfg)
