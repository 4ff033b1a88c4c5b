"""Filters of the List RPCs: ids by prefix (as kubelet and crictl use them), states, label selectors."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["match_id", "match_labels"]


def match_labels(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """Every key of ``selector`` is in ``labels`` with the same value (api.proto: "ANDed")."""
    return all(labels.get(k) == v for k, v in selector.items())


def match_id(want: str, ident: str) -> bool:
    """An empty filter matches everything; otherwise the id or a prefix of it (crictl passes prefixes)."""
    return not want or ident.startswith(want)
