"""Value classes declared like dataclasses, without the ``dataclasses`` module.

``dataclasses`` loads ``inspect`` (with ``ast``, ``dis`` and ``tokenize``) and compiles generated source for
every class: together some fifteen milliseconds of each ``ketch run``, more than the work the run does
itself. :func:`model` gives a class the same ``__init__`` (positional or keyword, defaults and
``field(default_factory=...)``), ``__repr__``, ``__eq__``, ``__match_args__`` and, with ``frozen=True``,
immutability and ``__hash__``, from shared functions that read the class's field table. Type checkers see
it as a dataclass (PEP 681 ``dataclass_transform``). :func:`replace`, :func:`asdict` and :func:`fields`
stand in for their dataclasses namesakes.

    @model(frozen=True)
    class Mount:
        type: str
        source: str
        options: list[str] = field(default_factory=list)
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar, dataclass_transform

    T = TypeVar("T")
else:

    def dataclass_transform(**_: object) -> object:
        return lambda f: f


__all__ = ["FrozenInstanceError", "asdict", "field", "fields", "model", "replace"]

_MISSING: Any = object()
_FIELDS = "__model_fields__"


class FrozenInstanceError(AttributeError):
    """Assignment to a field of a frozen model."""


class _Field:
    __slots__ = ("default", "factory")

    def __init__(self, default: object, factory: Callable[[], object] | None) -> None:
        self.default = default
        self.factory = factory


def field(*, default: Any = _MISSING, default_factory: Callable[[], Any] | None = None) -> Any:
    """A field's default: a value, or a factory called for each instance (for lists and dicts)."""
    if default is not _MISSING and default_factory is not None:
        raise ValueError("field() takes a default or a default_factory, not both")
    return _Field(default, default_factory)


class _Table:
    """A model's fields in declaration order (inherited ones first) and their defaults."""

    __slots__ = ("defaults", "factories", "names")

    def __init__(self, names: tuple[str, ...], defaults: dict[str, object],
                 factories: dict[str, Callable[[], object]]) -> None:  # fmt: skip
        self.names = names
        self.defaults = defaults
        self.factories = factories


def _table(obj: object) -> _Table:
    table: _Table = getattr(obj, _FIELDS)
    return table


def _init(self: object, *args: object, **kwargs: object) -> None:
    table = _table(self)
    names = table.names
    if len(args) > len(names):
        raise TypeError(f"{type(self).__name__}() takes {len(names)} positional arguments but {len(args)} were given")
    values = dict(zip(names, args, strict=False))
    for key, value in kwargs.items():
        if key not in table.defaults and key not in table.factories and key not in names:
            raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument {key!r}")
        if key in values:
            raise TypeError(f"{type(self).__name__}() got multiple values for argument {key!r}")
        values[key] = value
    setter = object.__setattr__
    for name in names:
        if name in values:
            setter(self, name, values[name])
        elif name in table.defaults:
            setter(self, name, table.defaults[name])
        elif name in table.factories:
            setter(self, name, table.factories[name]())
        else:
            raise TypeError(f"{type(self).__name__}() missing required argument: {name!r}")


def _values(self: object) -> tuple[object, ...]:
    return tuple(getattr(self, name) for name in _table(self).names)


def _repr(self: object) -> str:
    inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in _table(self).names)
    return f"{type(self).__qualname__}({inner})"


def _eq(self: object, other: object) -> Any:
    if other.__class__ is not self.__class__:
        return NotImplemented
    return _values(self) == _values(other)


def _hash(self: object) -> int:
    return hash(_values(self))


def _frozen_setattr(self: object, name: str, value: object) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r} of frozen {type(self).__name__}")


def _frozen_delattr(self: object, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r} of frozen {type(self).__name__}")


def _build(cls: type[T], frozen: bool) -> type[T]:
    names: list[str] = []
    defaults: dict[str, object] = {}
    factories: dict[str, Callable[[], object]] = {}
    for base in reversed(cls.__mro__[1:]):
        inherited = base.__dict__.get(_FIELDS)
        if inherited is not None:
            names += [n for n in inherited.names if n not in names]
            defaults.update(inherited.defaults)
            factories.update(inherited.factories)
    # the class's own annotations, unevaluated (inspect.get_annotations would load inspect, the cost avoided)
    for name, annotation in cls.__dict__.get("__annotations__", {}).items():  # noqa: RUF063
        if str(annotation).startswith(("ClassVar", "typing.ClassVar")):
            continue
        if name not in names:
            names.append(name)
        value = cls.__dict__.get(name, _MISSING)
        if isinstance(value, _Field):
            if value.factory is not None:
                factories[name] = value.factory
                defaults.pop(name, None)
            elif value.default is not _MISSING:
                defaults[name] = value.default
                factories.pop(name, None)
            if value.default is _MISSING:
                delattr(cls, name)  # as dataclasses: no class attribute for a factory field
            else:
                setattr(cls, name, value.default)
        elif value is not _MISSING:
            defaults[name] = value
            factories.pop(name, None)
    seen_default = False
    for name in names:  # the rule dataclasses enforces, so a model can become a dataclass again unchanged
        has_default = name in defaults or name in factories
        if seen_default and not has_default:
            raise TypeError(f"{cls.__name__}: non-default field {name!r} follows a field with a default")
        seen_default = seen_default or has_default
    attrs: dict[str, object] = {_FIELDS: _Table(tuple(names), defaults, factories), "__match_args__": tuple(names)}
    for attr, function in (("__init__", _init), ("__repr__", _repr), ("__eq__", _eq)):
        if attr not in cls.__dict__:
            attrs[attr] = function
    if frozen:
        attrs["__setattr__"] = _frozen_setattr
        attrs["__delattr__"] = _frozen_delattr
        if cls.__dict__.get("__hash__") is None:
            attrs["__hash__"] = _hash
    elif "__hash__" not in cls.__dict__:
        attrs["__hash__"] = None  # mutable and compared by value: unhashable, as with dataclasses
    for attr, value in attrs.items():
        setattr(cls, attr, value)
    return cls


@dataclass_transform(field_specifiers=(field,))
def model(cls: type[T] | None = None, /, *, frozen: bool = False) -> Any:
    """Make ``cls`` a value class (see the module's docstring); ``@model`` or ``@model(frozen=True)``."""
    if cls is None:
        return lambda c: _build(c, frozen)
    return _build(cls, frozen)


def fields(obj: object) -> tuple[str, ...]:
    """The field names of a model class or instance, in order."""
    return _table(obj).names


def replace(obj: T, /, **changes: Any) -> T:
    """A copy of the model ``obj`` with some fields changed."""
    values = {name: getattr(obj, name) for name in _table(obj).names}
    for key in changes:
        if key not in values:
            raise TypeError(f"{type(obj).__name__} has no field {key!r}")
    values.update(changes)
    made: T = type(obj)(**values)
    return made


def asdict(obj: object) -> dict[str, Any]:
    """The fields of a model as a dict, models inside it (also in lists, tuples and dicts) converted too."""
    out: dict[str, Any] = {name: _plain(getattr(obj, name)) for name in _table(obj).names}
    return out


def _plain(value: object) -> Any:
    if hasattr(type(value), _FIELDS):
        return asdict(value)
    if isinstance(value, list | tuple):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    return value
