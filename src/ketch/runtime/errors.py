"""Errors of the OCI runtime. Each message names the container or field that is wrong.

    RuntimeFailure
     ├── ConfigInvalid        config.json (or exec's process.json) cannot be acted on
     ├── ContainerNotFound    no container with that id under --root
     ├── ContainerExists      create with an id already in use
     ├── InvalidState         the operation does not fit the container's status
     ├── CreateFailed         building the container failed (the init process reported why)
     └── HookFailed           a lifecycle hook failed or timed out

The command line translates these (and OSError) into one error line and a non-zero exit, once.
"""

from __future__ import annotations

__all__ = [
    "ConfigInvalid",
    "ContainerExists",
    "ContainerNotFound",
    "CreateFailed",
    "HookFailed",
    "InvalidState",
    "RuntimeFailure",
]


class RuntimeFailure(Exception):
    """Base of the runtime's errors."""


class ConfigInvalid(RuntimeFailure):
    pass


class ContainerNotFound(RuntimeFailure):
    def __init__(self, container_id: str) -> None:
        super().__init__(f'container "{container_id}" does not exist')
        self.container_id = container_id


class ContainerExists(RuntimeFailure):
    def __init__(self, container_id: str) -> None:
        super().__init__(f'container "{container_id}" already exists')
        self.container_id = container_id


class InvalidState(RuntimeFailure):
    pass


class CreateFailed(RuntimeFailure):
    pass


class HookFailed(RuntimeFailure):
    pass
