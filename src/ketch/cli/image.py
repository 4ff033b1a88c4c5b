"""``ketch image ...``: import, export, ls, inspect, tag, rm, unpack, prune, commit."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ketch.cli.main import GlobalOptions
from ketch.image.errors import ImageError
from ketch.spec.image import ImageSpecError
from ketch.spec.reference import InvalidReference

__all__ = ["run"]


def _store(options: GlobalOptions) -> Any:
    from ketch.image.store import ImageStore

    return ImageStore(options.root)


def _human(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.1f}{unit}"
        n /= 1000
    raise AssertionError


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [header, *rows]]
    return "\n".join(lines) + "\n"


def _platform(text: str | None) -> Any:
    if text is None:
        return None
    from ketch.image.platform import parse_platform

    return parse_platform(text)


def cmd_import(a: argparse.Namespace, o: GlobalOptions) -> int:
    store = _store(o)
    if a.rootfs:
        from ketch.image.build import image_from_dir

        if not a.name:
            raise ImageError("--rootfs needs --name")
        desc = image_from_dir(store, a.path, a.name)
        sys.stdout.write(f"{store.get(a.name).name} {desc.digest}\n")
        return 0
    from ketch.image.archive import import_path

    for item in import_path(store, a.path, a.name, _platform(a.platform)):
        sys.stdout.write(f"{item.name or '<unnamed>'} {item.target.digest}\n")
    return 0


def cmd_export(a: argparse.Namespace, o: GlobalOptions) -> int:
    store = _store(o)
    from ketch.image import archive, layout

    if a.format == "oci":
        layout.export_layout(store, a.names, a.output, ref_names=a.ref_names)
    elif a.format == "oci-archive":
        archive.export_oci_archive(store, a.names, a.output)
    else:
        archive.export_docker_archive(store, a.names, a.output)
    return 0


def _size_of(store: Any, record: Any) -> int:
    from ketch.image.resolve import load_image

    try:
        image = load_image(store.content, record.target)
    except ImageError:
        return -1
    return sum(layer.size for layer in image.manifest.layers)


def cmd_ls(a: argparse.Namespace, o: GlobalOptions) -> int:
    from ketch.spec.reference import parse_reference

    store = _store(o)
    records = store.images()
    if a.format == "json":
        out = [{**r.to_json(), "size": _size_of(store, r)} for r in records]
        sys.stdout.write(json.dumps(out, indent=2) + "\n")
        return 0
    rows = []
    for r in records:
        ref = parse_reference(r.name)
        size = _size_of(store, r)
        rows.append(
            [
                ref.name if ref.domain != "docker.io" else ref.familiar().rsplit(":", 1)[0].split("@")[0],
                ref.tag or "<none>",
                r.target.digest.hex[:12],
                r.created,
                _human(size) if size >= 0 else "?",
            ]
        )
    sys.stdout.write(_table(rows, ["REPOSITORY", "TAG", "DIGEST", "CREATED", "SIZE"]))
    return 0


def cmd_inspect(a: argparse.Namespace, o: GlobalOptions) -> int:
    from ketch.image.blobs import read_verified
    from ketch.image.resolve import load_image

    store = _store(o)
    out = []
    for n in a.names:
        record = store.resolve(n)
        image = load_image(store.content, record.target, _platform(a.platform), require_layers=False)
        out.append(
            {
                "name": record.name,
                "target": record.target.to_json(),
                "manifestDescriptor": image.manifest_descriptor.to_json(),
                "manifest": image.manifest.to_json(),
                "config": json.loads(read_verified(store.content, image.manifest.config)),
            }
        )
    if a.format == "json" or len(out) != 1:
        sys.stdout.write(json.dumps(out, indent=2) + "\n")
    else:
        sys.stdout.write(json.dumps(out[0], indent=2) + "\n")
    return 0


def cmd_tag(a: argparse.Namespace, o: GlobalOptions) -> int:
    store = _store(o)
    record = store.resolve(a.source)
    for t in a.targets:
        store.put(t, record.target)
    return 0


def cmd_rm(a: argparse.Namespace, o: GlobalOptions) -> int:
    store = _store(o)
    for n in a.names:
        record = store.resolve(n)
        store.delete(record.name)
        sys.stdout.write(f"Untagged: {record.name}\n")
    if not a.no_prune:
        from ketch.image.gc import collect

        collect(store)
    return 0


def cmd_unpack(a: argparse.Namespace, o: GlobalOptions) -> int:
    from ketch.image.bundle import unpack_bundle
    from ketch.image.resolve import load_image

    store = _store(o)
    record = store.resolve(a.image)
    image = load_image(store.content, record.target, _platform(a.platform))
    unpack_bundle(store.content, image, a.bundle, terminal=a.tty, args=a.args or None, volumes=a.volumes)
    return 0


def cmd_prune(a: argparse.Namespace, o: GlobalOptions) -> int:
    from ketch.image.gc import collect

    store = _store(o)
    result = collect(store)
    if a.format == "json":
        sys.stdout.write(json.dumps(result.to_json(), indent=2) + "\n")
    else:
        sys.stdout.write(
            f"removed {len(result.blobs)} blobs, {len(result.snapshots)} snapshots, {_human(result.bytes)}\n"
        )
    return 0


def cmd_commit(a: argparse.Namespace, o: GlobalOptions) -> int:
    from ketch.image.commit import commit_rootfs
    from ketch.spec.image import ContainerConfig

    store = _store(o)
    config = None
    if a.cmd is not None or a.entrypoint is not None or a.env:
        config = ContainerConfig(cmd=a.cmd, entrypoint=a.entrypoint, env=a.env or None)
    desc = commit_rootfs(store, a.base, a.rootfs, a.name, config=config, comment=a.message, upper=a.upper)
    sys.stdout.write(f"{desc.digest}\n")
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ketch image", description="manage images")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser(
        "import", help="import an OCI layout, oci-archive, docker-archive, or (--rootfs) a directory"
    )
    s.add_argument("path")
    s.add_argument("--name", help="name to give the image(s) (a repository, or a full reference)")
    s.add_argument(
        "--rootfs", action="store_true", help="PATH is a root filesystem tree to make a 1-layer image of"
    )
    s.add_argument(
        "--platform", help="os/arch[/variant]: of multi-platform images, import that platform's content only"
    )
    s.set_defaults(func=cmd_import)

    s = sub.add_parser("export", help="export images as an OCI layout, oci-archive or docker-archive")
    s.add_argument("names", nargs="+")
    s.add_argument("-o", "--output", required=True)
    s.add_argument("--format", choices=["oci", "oci-archive", "docker-archive"], default="oci-archive")
    s.add_argument(
        "--ref-names", choices=["full", "tag"], default="full", help="ref.name annotation form (oci)"
    )
    s.set_defaults(func=cmd_export)

    s = sub.add_parser("ls", help="list images")
    s.add_argument("--format", choices=["table", "json"], default="table")
    s.set_defaults(func=cmd_ls)

    s = sub.add_parser("inspect", help="show an image's manifest and config")
    s.add_argument("names", nargs="+")
    s.add_argument("--platform", help="os/arch[/variant] (default: this host)")
    s.add_argument("--format", choices=["pretty", "json"], default="pretty")
    s.set_defaults(func=cmd_inspect)

    s = sub.add_parser("tag", help="give an image another name")
    s.add_argument("source")
    s.add_argument("targets", nargs="+")
    s.set_defaults(func=cmd_tag)

    s = sub.add_parser("rm", help="remove image names (and the content no image uses any more)")
    s.add_argument("names", nargs="+")
    s.add_argument("--no-prune", action="store_true")
    s.set_defaults(func=cmd_rm)

    s = sub.add_parser("unpack", help="unpack an image into a runtime bundle (rootfs + config.json)")
    s.add_argument("image")
    s.add_argument("bundle")
    s.add_argument("args", nargs=argparse.REMAINDER, help="command to run instead of the image's Cmd")
    s.add_argument("--platform", help="os/arch[/variant] (default: this host)")
    s.add_argument("--tty", action="store_true", help="set process.terminal (default false)")
    s.add_argument(
        "--volumes",
        choices=["tmpfs", "copy", "none"],
        default="tmpfs",
        help="Config.Volumes as empty tmpfs mounts (default), as copies of the image's content there "
        "(BUNDLE/volumes/N, bind-mounted), or not at all",
    )
    s.set_defaults(func=cmd_unpack)

    s = sub.add_parser("prune", help="remove content and snapshots no image uses")
    s.add_argument("--format", choices=["table", "json"], default="table")
    s.set_defaults(func=cmd_prune)

    s = sub.add_parser("commit", help="make a new image from a base image and a changed root filesystem")
    s.add_argument("base", help="the image the rootfs was unpacked from")
    s.add_argument(
        "rootfs", help="the changed tree (a bundle's rootfs, or an overlay upper dir with --upper)"
    )
    s.add_argument("name", help="name of the new image")
    s.add_argument("-m", "--message", help="history comment")
    s.add_argument("--cmd", nargs="+", help="new Cmd")
    s.add_argument("--entrypoint", nargs="+", help="new Entrypoint")
    s.add_argument("--env", action="append", help="VAR=VALUE (repeatable; replaces Env)")
    s.add_argument("--upper", action="store_true", help="ROOTFS is an overlayfs upper dir (changes only)")
    s.set_defaults(func=cmd_commit)
    return p


def run(args: list[str], options: GlobalOptions) -> int:
    a = _parser().parse_args(args)
    try:
        result: int = a.func(a, options)
        return result
    except (ImageError, ImageSpecError, InvalidReference, ValueError) as e:
        sys.stderr.write(f"ketch image {a.command}: {e}\n")
        return 1
    except OSError as e:
        where = f" {e.filename}" if e.filename else ""
        sys.stderr.write(f"ketch image {a.command}: {e.strerror or e}{where}\n")
        return 1
