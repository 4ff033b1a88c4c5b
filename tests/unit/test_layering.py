"""The dependency direction of docs/architecture.md, checked over the import graph of src/ketch.

Lower layers never import higher ones; cri drives containers through an OCI runtime binary and never imports
the runtime package.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "ketch"

# module prefix (relative to ketch) -> prefixes it may import (besides itself)
ALLOWED: dict[str, tuple[str, ...]] = {
    "_common": (),
    "spec": ("_common",),
    "linux": ("_common",),
    "runtime.cgroups": ("_common", "linux", "spec"),
    "runtime.seccomp": ("_common", "linux", "spec"),
    "runtime": ("_common", "linux", "spec", "runtime.cgroups", "runtime.seccomp"),
    "image": ("_common", "linux", "spec", "registry.client", "registry.api"),
    "registry.api": ("_common", "spec"),
    "registry.client": ("_common", "spec", "registry.api"),
    "registry": ("_common", "spec", "registry.api", "registry.client"),
    # cri.harness (the daemons for tests and benchmarks) builds its images with the test kit
    "cri.harness": ("_common", "linux", "spec", "image", "registry.client", "registry.api", "cri", "testing"),
    "cri": ("_common", "linux", "spec", "image", "registry.client", "registry.api"),
    # engine drives containers through an OCI runtime binary, never by importing ketch.runtime
    "engine": ("_common", "linux", "spec", "image", "registry.client", "registry.api"),
    "testing": ("_common", "spec", "linux", "image", "runtime", "cri"),
    "cli": ("",),  # anything
    "": ("",),  # ketch/__init__.py
}


def _layer_of(module: str) -> str:
    best = ""
    for prefix in ALLOWED:
        if prefix and (module == prefix or module.startswith(prefix + ".")) and len(prefix) > len(best):
            best = prefix
    return best


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path, module: str) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    is_pkg = path.name == "__init__.py"
    package = module.split(".") if is_pkg else module.split(".")[:-1]
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                target = ".".join(["ketch", *base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            found.append(target)
            found += [f"{target}.{a.name}" for a in node.names]
    return [f[len("ketch.") :] for f in found if f.startswith("ketch.")]


def _python_files() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


@pytest.mark.parametrize("path", _python_files(), ids=lambda p: str(p.relative_to(SRC)))
def test_imports_follow_the_layering(path: Path) -> None:
    module = _module_name(path)
    layer = _layer_of(module)
    allowed = ALLOWED[layer]
    bad = []
    for imported in _imports(path, module):
        if "" in allowed or _layer_of(imported) == layer:
            continue
        if not any(imported == a or imported.startswith(a + ".") for a in allowed):
            # importing a name from an allowed package (`from ketch.linux import mount`) is fine too
            if not any(imported.rsplit(".", 1)[0] == a for a in allowed):
                bad.append(imported)
    assert not bad, f"{module} (layer {layer or 'top'}) imports {bad}; allowed: {allowed}"


def test_the_checker_catches_a_bad_import(tmp_path: Path) -> None:
    bad = tmp_path / "x.py"
    bad.write_text("from ketch.runtime import container\nimport ketch.cli.main\n")
    assert _imports(bad, "cri.x") == ["runtime", "runtime.container", "cli.main"]
    assert _layer_of("cri.x") == "cri"
    assert "runtime" not in ALLOWED["cri"]
