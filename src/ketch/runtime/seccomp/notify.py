"""Hand the seccomp listener fd to the agent at ``listenerPath`` (runtime-spec config-linux.md, "Seccomp",
``listenerPath`` and "The Container Process State").

One connection per container: the ContainerProcessState JSON as the payload with the listener fd attached by
SCM_RIGHTS to the first ``sendmsg``, named ``seccompFd`` in ``fds``; then the connection is closed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ketch.runtime.seccomp.errors import SeccompNotifyError
from ketch.spec.runtime_defaults import OCI_VERSION

if TYPE_CHECKING:
    import socket

__all__ = ["receive_notify_fd", "send_notify_fd"]

SECCOMP_FD_NAME = "seccompFd"


def send_notify_fd(
    listener_path: str, fd: int, state_json_bytes: bytes, metadata: str = "", pid: int | None = None
) -> None:
    """Send the listener ``fd`` and the container process state to the agent listening on ``listener_path``.

    ``state_json_bytes`` is the container's state (runtime.md "State", ``status`` "creating"); ``pid`` is the
    container process as the runtime sees it, by default the state's ``pid``. ``fd`` stays open: the caller
    closes it once sent. config-linux.md: "If sending to this socket fails, the runtime MUST generate an
    error": SeccompNotifyError naming the path.
    """
    import json  # imported here: most containers have no listener, and prepare() must stay light
    import socket

    try:
        state = json.loads(state_json_bytes)
    except ValueError as e:
        raise SeccompNotifyError(f"container state for {listener_path!r} is not JSON: {e}") from None
    if not isinstance(state, dict):
        raise SeccompNotifyError(f"container state for {listener_path!r} is not a JSON object")
    if pid is None:
        pid = state.get("pid")
        if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
            raise SeccompNotifyError(f"container state for {listener_path!r} has no pid")
    message: dict[str, Any] = {
        "ociVersion": state.get("ociVersion") or OCI_VERSION,
        "fds": [SECCOMP_FD_NAME],
        "pid": pid,
        "state": state,
    }
    if metadata:
        message["metadata"] = metadata
    payload = json.dumps(message, separators=(",", ":")).encode()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(listener_path)
            sent = socket.send_fds(sock, [payload], [fd])
            if sent < len(payload):
                sock.sendall(payload[sent:])  # fds went with the first sendmsg only, as the spec requires
    except OSError as e:
        raise SeccompNotifyError(f"seccomp listener {listener_path!r}: {e.strerror or e}") from None


def receive_notify_fd(conn: socket.socket, max_size: int = 1 << 20) -> tuple[int, dict[str, Any]]:
    """The agent's side of :func:`send_notify_fd`: read one ContainerProcessState from an accepted connection.

    Returns the ``seccompFd`` fd (the caller owns it) and the decoded state message. Reads until the runtime
    closes the connection; any other fds that arrive are closed.
    """
    import json
    import os
    import socket

    chunks: list[bytes] = []
    fds: list[int] = []
    total = 0
    while True:
        data, new_fds, _flags, _addr = socket.recv_fds(conn, 65536, 4)
        fds += new_fds
        if not data:
            break
        chunks.append(data)
        total += len(data)
        if total > max_size:
            break
    try:
        if total > max_size:
            raise SeccompNotifyError(f"container process state larger than {max_size} bytes")
        message = json.loads(b"".join(chunks))
        names = message.get("fds") if isinstance(message, dict) else None
        if not isinstance(names, list) or SECCOMP_FD_NAME not in names or len(names) != len(fds):
            raise SeccompNotifyError("container process state names no seccompFd matching the fds received")
        fd = fds.pop(names.index(SECCOMP_FD_NAME))
    except ValueError as e:
        raise SeccompNotifyError(f"container process state is not JSON: {e}") from None
    finally:
        for other in fds:
            os.close(other)
    return fd, message
