"""Validation of CRI metadata names and the reservation of the names built from them.

Kubelet builds names from pod and container metadata; two objects with the same name at the same time
are refused (containerd: "name is reserved"), which is what makes a retried RunPodSandbox safe.
"""

from __future__ import annotations

import re

from ketch.cri.errors import AlreadyExists, InvalidArgument

__all__ = ["NameRegistry", "check_metadata_name"]

# Object names in Kubernetes are DNS subdomains (RFC 1123) at most 253 characters; uids are free-form but
# become part of directory and cgroup names, so they are held to the same safe alphabet.
_NAME = re.compile(r"[a-zA-Z0-9]([a-zA-Z0-9._-]{0,251}[a-zA-Z0-9])?\Z")


def check_metadata_name(value: str, what: str) -> str:
    if not value:
        raise InvalidArgument(f"{what} is empty")
    if not _NAME.match(value):
        raise InvalidArgument(f"{what} {value!r} is not a valid name (letters, digits, '.', '_', '-'; "
                              "starting and ending with a letter or digit; at most 253 characters)")
    return value


class NameRegistry:
    def __init__(self) -> None:
        self._owners: dict[str, str] = {}

    def reserve(self, name: str, owner: str) -> None:
        held = self._owners.get(name)
        if held is not None and held != owner:
            raise AlreadyExists(f"name {name!r} is reserved by {held}")
        self._owners[name] = owner

    def release(self, name: str) -> None:
        self._owners.pop(name, None)

    def owner(self, name: str) -> str | None:
        return self._owners.get(name)
