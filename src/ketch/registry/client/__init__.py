"""The distribution-spec client: resolve, pull, push, tags, referrers, login (docs/client.md).

Imports only spec, _common and registry.api (and urllib3): no server code, no image code. Content stores,
platform selection and unpacking are passed in by the caller (the CLI wires the image part's).
"""

from ketch.registry.client.auth import Authorizer, Scope
from ketch.registry.client.credentials import Credentials, CredentialStore, default_auth_file
from ketch.registry.client.errors import (
    AuthError,
    ClientError,
    ConfigError,
    ConnectError,
    ContentMismatch,
    NotFound,
    ResponseError,
    Unsupported,
)
from ketch.registry.client.hosts import DEFAULT_HOSTS_DIR, Endpoint, HostsConfig, is_loopback
from ketch.registry.client.progress import (
    LineProgress,
    NullProgress,
    Progress,
    TerminalProgress,
    make_progress,
)
from ketch.registry.client.pull import BlobSink, PullResult, pull
from ketch.registry.client.push import BlobSource, PushResult, push
from ketch.registry.client.referrers import attach, fallback_tag, list_referrers
from ketch.registry.client.repository import MANIFEST_ACCEPT, Repository
from ketch.registry.client.session import Session, SessionOptions
from ketch.registry.client.sources import BlobSources
from ketch.registry.client.transport import Transport

__all__ = [
    "DEFAULT_HOSTS_DIR",
    "MANIFEST_ACCEPT",
    "AuthError",
    "Authorizer",
    "BlobSink",
    "BlobSource",
    "BlobSources",
    "ClientError",
    "ConfigError",
    "ConnectError",
    "ContentMismatch",
    "CredentialStore",
    "Credentials",
    "Endpoint",
    "HostsConfig",
    "LineProgress",
    "NotFound",
    "NullProgress",
    "Progress",
    "PullResult",
    "PushResult",
    "Repository",
    "ResponseError",
    "Scope",
    "Session",
    "SessionOptions",
    "TerminalProgress",
    "Transport",
    "Unsupported",
    "attach",
    "default_auth_file",
    "fallback_tag",
    "is_loopback",
    "list_referrers",
    "make_progress",
    "pull",
    "push",
]
