"""The container engine behind ``ketch run``: records, root filesystems, networks, volumes, monitoring.

Containers are driven through an OCI runtime binary (ketch-runtime, runc, crun) and, when detached,
monitored by conmon; this package never imports ``ketch.runtime``.
"""

from ketch.engine.config import EngineConfig, load_config
from ketch.engine.errors import EngineError
from ketch.engine.manager import Engine
from ketch.engine.options import RunOptions
from ketch.engine.records import ContainerRecord, PortMapping

__all__ = ["ContainerRecord", "Engine", "EngineConfig", "EngineError", "PortMapping", "RunOptions", "load_config"]
