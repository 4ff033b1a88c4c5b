"""The process of ``exec``: from ``--process FILE``, or the container's own process with the command line's
changes (runc's rules: a new command, env added to the container's, user, cwd, capabilities added)."""

from __future__ import annotations

import copy

from ketch.runtime.errors import ConfigInvalid

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["build_exec_process"]


def build_exec_process(
    container_process: dict[str, Any],
    *,
    process_file: str | None,
    args: list[str],
    tty: bool,
    cwd: str | None,
    env: list[str],
    user: str | None,
    additional_gids: list[str],
    caps: list[str],
    no_new_privs: bool,
) -> dict[str, Any]:
    from ketch.spec.runtime import ConfigError, validate_process

    if process_file is not None:
        from ketch._common import fastjson

        try:
            with open(process_file, "rb") as f:
                process = fastjson.loads(f.read())
        except OSError as exc:
            raise ConfigInvalid(f"--process {process_file}: {exc.strerror}") from None
        except ValueError as exc:
            raise ConfigInvalid(f"--process {process_file}: invalid JSON: {exc}") from None
        try:
            result: dict[str, Any] = validate_process(process, "process")
        except ConfigError as exc:
            raise ConfigInvalid(f"--process {process_file}: {exc}") from None
        return result
    if not args:
        raise ConfigInvalid("exec: give the command to run, or --process FILE")
    process = copy.deepcopy(container_process)
    process["args"] = list(args)
    process["terminal"] = tty
    process.pop("consoleSize", None)
    if cwd:
        process["cwd"] = cwd
    merged = {item.split("=", 1)[0]: item for item in process.get("env", [])}
    for item in env:
        if "=" not in item:
            raise ConfigInvalid(f"--env {item!r}: must have the form KEY=value")
        merged[item.split("=", 1)[0]] = item
    process["env"] = list(merged.values())
    if user:
        uid, _, gid = user.partition(":")
        try:
            process["user"] = {**process.get("user", {}), "uid": int(uid), "gid": int(gid) if gid else 0}
        except ValueError:
            raise ConfigInvalid(f"--user {user!r}: give uid[:gid] as numbers") from None
    if additional_gids:
        try:
            process.setdefault("user", {})["additionalGids"] = [int(g) for g in additional_gids]
        except ValueError:
            raise ConfigInvalid(f"--additional-gids {additional_gids!r}: must be numbers") from None
    if caps:
        sets = process.setdefault("capabilities", {})
        for cap in caps:
            name = cap if cap.startswith("CAP_") else "CAP_" + cap.upper()
            for key in ("bounding", "effective", "permitted"):
                if name not in sets.setdefault(key, []):
                    sets[key].append(name)
    if no_new_privs:
        process["noNewPrivileges"] = True
    try:
        return validate_process(process, "process")
    except ConfigError as exc:
        raise ConfigInvalid(f"exec: {exc}") from None
