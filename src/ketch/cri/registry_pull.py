"""PullImage through ketch's registry client: the ``Puller`` ketchd uses by default.

Credentials come from the request's AuthConfig when it carries any (kubelet's image pull secrets), else
from the auth files the registry client reads (``auth_file`` / docker config). Mirrors and TLS per registry
come from the client's hosts directory.
"""

from __future__ import annotations

import base64
import binascii

from ketch.cri.errors import ExternalError, InvalidArgument, NotFound, PermissionDenied, Unavailable
from ketch.cri.images import PullAuth
from ketch.image.errors import ImageError, IngestBusy
from ketch.image.platform import select_manifest
from ketch.image.store import ImageStore
from ketch.registry.client import (
    AuthError,
    Authorizer,
    ClientError,
    ConnectError,
    Credentials,
    CredentialStore,
    Repository,
    Session,
    SessionOptions,
    Transport,
    pull,
)
from ketch.registry.client import NotFound as RegistryNotFound
from ketch.registry.client.hosts import DEFAULT_HOSTS_DIR, HostsConfig
from ketch.spec.image import Descriptor
from ketch.spec.reference import InvalidReference, parse_reference

__all__ = ["RegistryPuller", "credentials_from_auth"]


def credentials_from_auth(auth: PullAuth) -> Credentials | None:
    """AuthConfig -> Credentials: username/password, else the base64 ``auth`` field, else a token."""
    if auth.username or auth.password:
        return Credentials(auth.username, auth.password)
    if auth.auth:
        try:
            user, sep, password = base64.b64decode(auth.auth, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise InvalidArgument("auth.auth is not base64 of user:password") from None
        if not sep:
            raise InvalidArgument("auth.auth does not decode to user:password")
        return Credentials(user, password)
    if auth.identity_token:
        return Credentials("", "", identity_token=auth.identity_token)
    if auth.registry_token:
        # A bearer token for the registry itself: sent as the password of an empty user (what
        # containerd's resolver does with registry_token).
        return Credentials("", auth.registry_token)
    return None


class _RequestCredentials(CredentialStore):
    """The request's credentials for every lookup (they were given for this pull's registry)."""

    def __init__(self, creds: Credentials) -> None:
        super().__init__(auth_file="", docker_config="")
        self.creds = creds

    def lookup(self, registry: str, repository: str | None = None) -> Credentials | None:
        return self.creds


class RegistryPuller:
    def __init__(self, options: SessionOptions | None = None, workers: int = 4) -> None:
        self.options = options or SessionOptions()
        self.workers = workers

    def _session(self, domain: str, auth: PullAuth | None) -> Session:
        creds = credentials_from_auth(auth) if auth is not None else None
        if creds is None:
            return Session.open(domain, self.options)
        o = self.options
        t = Transport(max_connections=o.max_connections, retries=o.retries, backoff=o.backoff)
        hosts = HostsConfig(o.hosts_dir if o.hosts_dir is not None else DEFAULT_HOSTS_DIR)
        return Session(domain, transport=t, authorizer=Authorizer(t, _RequestCredentials(creds), domain),
                       hosts=hosts)

    def pull(self, store: ImageStore, reference: str, auth: PullAuth | None) -> str:
        try:
            ref = parse_reference(reference)
        except InvalidReference as e:
            raise InvalidArgument(f"image reference {reference!r}: {e}") from None
        repo = Repository(self._session(ref.domain, auth), ref.path)

        def select(read: object, target: Descriptor) -> Descriptor:
            return select_manifest(read, target, None).descriptor  # type: ignore[arg-type]

        try:
            with store.lease():
                result = pull(repo, str(ref.digest) if ref.digest else ref.tag or "latest", store.content,
                              select=select, workers=self.workers, busy=(IngestBusy,))
                store.put(ref, result.target)
        except RegistryNotFound as e:
            raise NotFound(f"image {ref}: {e}") from None
        except AuthError as e:
            raise PermissionDenied(f"pulling {ref}: {e}") from None
        except ConnectError as e:
            raise Unavailable(f"pulling {ref}: {e}") from None
        except (ClientError, ImageError) as e:
            raise ExternalError(f"pulling {ref}: {e}") from None
        return str(ref)
