"""Who may do what: the scopes a request needs, and the access rules that grant them.

Scopes are token.md's ``repository:<name>:<action>[,<action>...]`` and ``registry:catalog:*``.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from ketch.registry.server.auth.tokens import Grant
from ketch.registry.server.config import AccessRule

__all__ = ["Scope", "allowed_actions", "format_scope", "grants_cover", "parse_scope"]


@dataclass(frozen=True)
class Scope:
    type: str
    name: str
    actions: tuple[str, ...]


def parse_scope(text: str) -> Scope | None:
    """``repository:a/b:pull,push`` (the name may hold colons only before a port, which we do not use)."""
    kind, sep, rest = text.partition(":")
    name, sep2, actions = rest.rpartition(":")
    if not sep or not sep2 or not kind or not name:
        return None
    return Scope(kind, name, tuple(a for a in actions.split(",") if a))


def format_scope(scope: Scope) -> str:
    return f"{scope.type}:{scope.name}:{','.join(scope.actions)}"


def allowed_actions(
    rules: list[AccessRule], user: str, scope: Scope, anonymous_pull: bool
) -> tuple[str, ...]:
    """The actions of ``scope`` that ``user`` ("" for anonymous) is granted.

    With no rules, every authenticated user may pull, push and delete anywhere and read the catalog;
    anonymous users may pull when ``anonymous_pull`` is set. With rules, the union of the matching rules.
    """
    granted: set[str] = set()
    if not rules:
        if user:
            granted = {"pull", "push", "delete", "*"}
        elif anonymous_pull:
            granted = {"pull"}
    else:
        for rule in rules:
            if rule.user == "*" and not user:
                continue
            if rule.user not in ("*", user):
                continue
            if scope.type == "repository" and not fnmatch.fnmatchcase(scope.name, rule.repository):
                continue
            if scope.type == "registry" and rule.repository not in ("*", "**"):
                continue
            granted |= {"pull", "push", "delete", "*"} if "*" in rule.actions else set(rule.actions)
        if not user and anonymous_pull:
            granted.add("pull")
    return tuple(a for a in scope.actions if a in granted)


def grants_cover(grants: list[Grant], scope: Scope) -> bool:
    """Whether a token's grants include every action of ``scope``."""
    have: set[str] = set()
    for g in grants:
        if g.type == scope.type and g.name == scope.name:
            have |= set(g.actions)
    return all(a in have or "*" in have for a in scope.actions)
