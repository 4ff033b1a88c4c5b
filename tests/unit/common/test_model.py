"""ketch._common.model: value classes with the behaviour of dataclasses, checked against dataclasses."""

from __future__ import annotations

import dataclasses
import sys

import pytest

from ketch._common.model import FrozenInstanceError, asdict, field, fields, model, replace


@model
class Point:
    x: int
    y: int = 0
    tags: list[str] = field(default_factory=list)


@model(frozen=True)
class Key:
    name: str
    parts: tuple[int, ...] = ()


@model
class Outer:
    point: Point
    keys: list[Key] = field(default_factory=list)
    extra: dict[str, Point] = field(default_factory=dict)


@dataclasses.dataclass
class DPoint:
    x: int
    y: int = 0
    tags: list[str] = dataclasses.field(default_factory=list)


def test_init_positional_keyword_and_defaults_like_dataclasses() -> None:
    for cls in (Point, DPoint):
        a = cls(1)
        assert (a.x, a.y, a.tags) == (1, 0, [])
        b = cls(1, y=2, tags=["t"])
        assert (b.x, b.y, b.tags) == (1, 2, ["t"])
    p, q = Point(1), Point(1)
    p.tags.append("mine")
    assert q.tags == []  # a fresh list per instance


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((), {}, "missing required argument: 'x'"),
        ((1, 2, [], 4), {}, "takes 3 positional arguments but 4 were given"),
        ((1,), {"x": 2}, "multiple values for argument 'x'"),
        ((1,), {"z": 2}, "unexpected keyword argument 'z'"),
    ],
)
def test_bad_arguments_are_type_errors_naming_the_field(args: tuple[object, ...], kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(TypeError, match=message):
        Point(*args, **kwargs)  # type: ignore[arg-type]


def test_repr_eq_hash_match_args() -> None:
    assert repr(Point(1, 2)) == "Point(x=1, y=2, tags=[])"
    assert Point(1) == Point(1) and Point(1) != Point(2) and Point(1) != DPoint(1)  # type: ignore[comparison-overlap]
    assert Point.__hash__ is None  # mutable value: unhashable, as a dataclass
    assert hash(Key("a", (1,))) == hash(Key("a", (1,)))
    assert {Key("a"), Key("a")} == {Key("a")}
    assert Point.__match_args__ == ("x", "y", "tags")
    match Point(3, 4):
        case Point(x, y):
            assert (x, y) == (3, 4)


def test_frozen_refuses_assignment_and_deletion() -> None:
    k = Key("a")
    with pytest.raises(FrozenInstanceError, match="'name'"):
        k.name = "b"  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        del k.name
    assert isinstance(FrozenInstanceError("x"), AttributeError)


def test_replace_fields_asdict() -> None:
    o = Outer(Point(1, tags=["a"]), [Key("k", (1, 2))], {"p": Point(2)})
    assert fields(Outer) == ("point", "keys", "extra") == fields(o)
    assert asdict(o) == {
        "point": {"x": 1, "y": 0, "tags": ["a"]},
        "keys": [{"name": "k", "parts": (1, 2)}],
        "extra": {"p": {"x": 2, "y": 0, "tags": []}},
    }
    k2 = replace(Key("k"), parts=(3,))
    assert k2 == Key("k", (3,))
    with pytest.raises(TypeError, match="no field 'nope'"):
        replace(k2, nope=1)


def test_inheritance_and_field_order_rule() -> None:
    @model
    class Base:
        a: int
        b: int = 1

    @model
    class Child(Base):
        c: int = 2

    assert fields(Child) == ("a", "b", "c")
    assert Child(5) == Child(5, 1, 2)
    with pytest.raises(TypeError, match="non-default field 'd' follows"):

        @model
        class Bad:
            c: int = 1
            d: int  # type: ignore[misc]


def test_field_default_and_factory_are_exclusive() -> None:
    with pytest.raises(ValueError, match="not both"):
        field(default=1, default_factory=list)


def test_importing_models_does_not_load_dataclasses() -> None:
    import subprocess

    code = "import sys, ketch.spec.image, ketch.image.resolve, ketch.engine.records; print('dataclasses' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
