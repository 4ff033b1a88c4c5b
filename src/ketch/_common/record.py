"""A small immutable-by-convention record: equality, hashing, repr and unpacking from ``__slots__``.

For value types on start-up-sensitive paths, where ``typing.NamedTuple`` (which loads ``typing``, several
milliseconds) or ``dataclasses`` (which loads ``inspect``) would cost more than the code they save.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["Record"]


class Record:
    __slots__: tuple[str, ...] = ()

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __iter__(self) -> Iterator[object]:
        return iter(self._values())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__name__}({fields})"
