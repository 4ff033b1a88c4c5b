"""Storage backends behind one narrow interface (:class:`StorageDriver`)."""

from ketch.registry.storage.driver.base import (
    DriverError,
    FileInfo,
    FileWriter,
    PathBusy,
    PathNotFound,
    StorageDriver,
    check_path,
)
from ketch.registry.storage.driver.filesystem import FilesystemDriver

__all__ = [
    "DriverError",
    "FileInfo",
    "FileWriter",
    "FilesystemDriver",
    "PathBusy",
    "PathNotFound",
    "StorageDriver",
    "check_path",
]
