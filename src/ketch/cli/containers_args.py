"""The command lines of ``ketch run``, ``ps``, ``logs``... (:mod:`ketch.cli.containers`): one argparse parser per
command, with a summary and examples for ``--help``. Errors print one line and a pointer at --help and exit
125, as docker and podman do."""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["EXIT_ENGINE", "Parser", "parser_for"]

EXIT_ENGINE = 125  # docker/podman: the engine failed (not the container)


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line and a pointer at --help, status 125 like docker
        sys.stderr.write(f"{self.prog}: {message}\nhint: see '{self.prog} --help'\n")
        raise SystemExit(EXIT_ENGINE)


def _p(name: str, summary: str, examples: list[str]) -> Parser:
    epilog = "examples:\n" + "\n".join(f"  {e}" for e in examples)
    return Parser(
        prog=f"ketch {name}", description=summary, epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter
    )


# -- run ---------------------------------------------------------------------------------------------------


def run_parser(name: str = "run") -> Parser:
    p = _p(
        name,
        "Run a command in a new container (pulling the image when needed).",
        [
            "ketch run --rm busybox echo hello",
            "ketch run -d --name web -p 8080:80 -v data:/srv nginx",
            "ketch run -it --rm -e TERM=xterm debian bash",
            "ketch run --rm --network none --memory 64m --pids-limit 50 --read-only alpine id",
        ],
    )
    p.add_argument("-d", "--detach", action="store_true", help="run in the background (monitored by conmon)")
    p.add_argument("-i", "--interactive", action="store_true", help="keep stdin attached")
    p.add_argument("-t", "--tty", action="store_true", help="allocate a pseudo-terminal")
    p.add_argument("--rm", action="store_true", help="remove the container when it exits")
    p.add_argument("--name", help="container name (default: a random one)")
    p.add_argument("-e", "--env", action="append", default=[], metavar="K=V", help="set an environment variable")
    p.add_argument("--env-file", action="append", default=[], metavar="FILE", help="read K=V lines from FILE")
    p.add_argument("-w", "--workdir", metavar="DIR", help="working directory inside the container")
    p.add_argument("-u", "--user", metavar="USER[:GROUP]", help="user (name or uid) to run as")
    p.add_argument("-v", "--volume", action="append", default=[], metavar="SRC:DST[:ro]",
                   help="bind mount a host path or a named volume")  # fmt: skip
    p.add_argument("--tmpfs", action="append", default=[], metavar="DST[:OPTS]", help="mount a tmpfs")
    p.add_argument("-p", "--publish", action="append", default=[], metavar="HOST:CTR[/PROTO]",
                   help="publish a container port on the host")  # fmt: skip
    p.add_argument("--network", "--net", default="bridge", help="none, host, bridge (default) or a network name")
    p.add_argument("--hostname", help="container host name (default: the short id)")
    p.add_argument("--dns", action="append", default=[], help="name server for /etc/resolv.conf")
    p.add_argument("-m", "--memory", help="memory limit (e.g. 64m, 1g)")
    p.add_argument("--cpus", help="CPU limit (e.g. 0.5)")
    p.add_argument("--pids-limit", type=int, help="maximum number of processes")
    p.add_argument("--cap-add", action="append", default=[], help="add a capability (or ALL)")
    p.add_argument("--cap-drop", action="append", default=[], help="drop a capability (or ALL)")
    p.add_argument("--privileged", action="store_true", help="all capabilities and devices, no confinement")
    p.add_argument("--read-only", action="store_true", help="mount the root filesystem read-only")
    p.add_argument("--security-opt", action="append", default=[], metavar="seccomp=PROFILE|unconfined")
    p.add_argument("--entrypoint", help="override the image's entrypoint ('' to clear it)")
    p.add_argument("--runtime", help="OCI runtime: ketch-runtime (default), runc, crun, or a path")
    p.add_argument("--platform", help="os/arch[/variant] of the image")
    p.add_argument("--pull", choices=["missing", "always", "never"], default="missing")
    p.add_argument("-l", "--label", action="append", default=[], metavar="K=V")
    p.add_argument("image")
    p.add_argument("command", nargs=argparse.REMAINDER)
    return p


def _simple(name: str, summary: str, examples: list[str], *, many: str | None = "containers") -> Parser:
    p = _p(name, summary, examples)
    if many == "container":
        p.add_argument(many, metavar="CONTAINER")
    elif many:
        p.add_argument(many, nargs="+", metavar="CONTAINER")
    return p


def parser_for(command: str) -> Parser:
    if command in ("run", "create"):
        p = run_parser(command)
        return p
    if command == "ps":
        p = _simple("ps", "List containers (running ones; -a: all).", ["ketch ps", "ketch ps -a --format json"], many=None)  # fmt: skip
        p.add_argument("-a", "--all", action="store_true", help="include stopped containers")
        p.add_argument("-q", "--quiet", action="store_true", help="only ids")
        p.add_argument("--format", choices=["table", "json"], default="table")
        return p
    if command == "logs":
        p = _simple("logs", "Show a detached container's output.",
                    ["ketch logs web", "ketch logs -f --tail 10 web", "ketch logs --since 5m web"], many=None)  # fmt: skip
        p.add_argument("container")
        p.add_argument("-f", "--follow", action="store_true", help="keep printing until the container exits")
        p.add_argument("--tail", type=int, help="only the last N lines")
        p.add_argument("--since", help="only lines after a time (RFC 3339) or a duration back (10s, 5m, 2h)")
        p.add_argument("-t", "--timestamps", action="store_true")
        return p
    if command == "exec":
        p = _simple("exec", "Run a command in a running container.",
                    ["ketch exec web ls /", "ketch exec -it web sh", "ketch exec -e A=1 -u 1000 -w /tmp web env"], many=None)  # fmt: skip
        p.add_argument("-i", "--interactive", action="store_true")
        p.add_argument("-t", "--tty", action="store_true")
        p.add_argument("-e", "--env", action="append", default=[])
        p.add_argument("-u", "--user", help="UID[:GID]")
        p.add_argument("-w", "--workdir")
        p.add_argument("container")
        p.add_argument("command", nargs=argparse.REMAINDER)
        return p
    if command == "start":
        return _simple("start", "Start stopped containers again (detached).", ["ketch start web"])
    if command in ("stop", "restart"):
        p = _simple(command, f"{command.capitalize()} containers: the stop signal, then SIGKILL after -t seconds.",
                    [f"ketch {command} web", f"ketch {command} -t 2 web db"])  # fmt: skip
        p.add_argument("-t", "--time", type=float, default=10.0, help="seconds to wait before SIGKILL")
        return p
    if command == "kill":
        p = _simple("kill", "Send a signal to containers (default SIGKILL).", ["ketch kill web", "ketch kill -s HUP web"])
        p.add_argument("-s", "--signal", default="SIGKILL")
        return p
    if command == "rm":
        p = _simple("rm", "Remove containers (-f: running ones too).", ["ketch rm web", "ketch rm -f web"])
        p.add_argument("-f", "--force", action="store_true", help="kill a running container first")
        return p
    if command == "wait":
        return _simple("wait", "Wait for containers to exit; print their exit codes.", ["ketch wait web"])
    if command == "inspect":
        p = _simple("inspect", "Show containers' records and runtime configs as JSON (or an image's manifest).",
                    ["ketch inspect web", "ketch inspect --format '{{.state}} {{.exit_code}}' web"],
                    many=None)  # fmt: skip
        p.add_argument("names", nargs="+", metavar="NAME")
        p.add_argument("-f", "--format", help="a template of record fields, e.g. '{{.ip}}'")
        p.add_argument("--type", choices=["container", "image"], default=None)
        # for an image: the registry's manifest inspect, with its options
        p.add_argument("--raw", dest="rest", action="append_const", const="--raw",
                       help="an image's manifest exactly as the registry sent it")
        p.add_argument("--config", dest="rest", action="append_const", const="--config",
                       help="an image's config too")
        p.set_defaults(rest=[])
        return p
    if command == "port":
        return _simple("port", "List a container's published ports.", ["ketch port web"], many="container")
    if command == "top":
        return _simple("top", "List a container's processes.", ["ketch top web"], many="container")
    if command == "stats":
        p = _simple("stats", "CPU, memory and pids of running containers (from their cgroups).",
                    ["ketch stats", "ketch stats --format json web"], many=None)  # fmt: skip
        p.add_argument("containers", nargs="*", metavar="CONTAINER")
        p.add_argument("--format", choices=["table", "json"], default="table")
        return p
    if command == "cp":
        p = _simple("cp", "Copy files between a container and the host (paths resolved inside the container).",
                    ["ketch cp web:/etc/hostname .", "ketch cp ./site web:/srv"], many=None)  # fmt: skip
        p.add_argument("source")
        p.add_argument("dest")
        return p
    if command == "commit":
        p = _simple("commit", "Make an image of a container's changes.", ["ketch commit web web:v2"],
                    many=None)  # fmt: skip
        p.add_argument("container")
        p.add_argument("name")
        p.add_argument("-m", "--message")
        p.add_argument("-a", "--author")
        return p
    if command == "prune":
        return _simple("prune", "Remove stopped containers, then images' unused content and snapshots.",
                       ["ketch prune"], many=None)  # fmt: skip
    if command == "info":
        p = _simple("info", "Show the configuration in effect, runtimes, cgroups and storage use.",
                    ["ketch info", "ketch --config ./ketch.toml info --format json"], many=None)  # fmt: skip
        p.add_argument("--format", choices=["text", "json"], default="text")
        return p
    if command == "volume":
        p = _simple("volume", "Manage named volumes.", ["ketch volume create data", "ketch volume ls",
                    "ketch volume inspect data", "ketch volume rm data"], many=None)  # fmt: skip
        p.add_argument("action", choices=["create", "ls", "inspect", "rm"])
        p.add_argument("name", nargs="?")
        p.add_argument("--format", choices=["table", "json"], default="table")
        return p
    if command == "network":
        p = _simple("network", "Manage bridge networks (CNI).", ["ketch network create --subnet 10.67.0.0/24 backend",
                    "ketch network ls", "ketch network rm backend"], many=None)  # fmt: skip
        p.add_argument("action", choices=["create", "ls", "inspect", "rm"])
        p.add_argument("name", nargs="?")
        p.add_argument("--subnet")
        return p
    raise KeyError(command)
