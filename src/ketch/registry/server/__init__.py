"""The registry HTTP server (aiohttp): one handler module per resource."""

from ketch.registry.server.app import ROUTE_TABLE, make_app
from ketch.registry.server.config import RegistryConfig, load_config
from ketch.registry.server.errors import ConfigError, ServerError
from ketch.registry.server.run import serve

__all__ = ["ROUTE_TABLE", "ConfigError", "RegistryConfig", "ServerError", "load_config", "make_app", "serve"]
