"""Symbolic dimensions and their unification (union-find), and the declared types of variables.

Every expression node carries a shape ``(rows, cols)`` of :class:`Dim` objects.  A dim is
either a known integer or a symbol; ``A*x`` unifies A's columns with x's length, and a
conflict of two known sizes is a :class:`~matdiff.errors.ShapeError` naming the operands.
A scalar is 1x1, a vector n x 1 (its transpose 1 x n).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from ..errors import ParseError, ShapeError

KINDS = ("scalar", "vector", "matrix", "symmetric", "spd", "diagonal")
SYMMETRIC_KINDS = frozenset({"symmetric", "spd", "diagonal"})


class Dim:
    """One dimension: a known size or a symbol, merged with others by unification."""

    __slots__ = ("parent", "value", "name", "unit_ok")

    def __init__(self, value: int | None = None, name: str | None = None, unit_ok: bool = True):
        self.parent: Dim | None = None
        self.value = value
        self.name = name
        self.unit_ok = unit_ok  # False for a variable's size: it is never silently made 1

    def find(self) -> Dim:
        d = self
        while d.parent is not None:
            if d.parent.parent is not None:  # path halving
                d.parent = d.parent.parent
            d = d.parent
        return d

    def size(self) -> int | None:
        return self.find().value

    def __str__(self) -> str:
        r = self.find()
        if r.value is not None:
            return str(r.value)
        return r.name or "?"

    __repr__ = __str__


ONE = Dim(1, "1")
SCALAR_SHAPE = (ONE, ONE)


def is_one(d: Dim) -> bool:
    return d.find().value == 1


def unify(a: Dim, b: Dim, describe: Callable[[], str]) -> None:
    """Make a and b the same dimension, or raise ShapeError with describe()'s explanation."""
    ra, rb = a.find(), b.find()
    if ra is rb:
        return
    if ra.value is not None and rb.value is not None:
        if ra.value != rb.value:
            raise ShapeError(describe())
        rb.parent = ra
        return
    if (ra.value == 1 and not rb.unit_ok) or (rb.value == 1 and not ra.unit_ok):
        raise ShapeError(describe())
    if ra.value is None and rb.value is None:
        ra.unit_ok = rb.unit_ok = ra.unit_ok and rb.unit_ok
    if ra.value is None:
        if rb.value is None and ra.name and not rb.name:
            rb.parent = ra
        else:
            ra.parent = rb
    else:
        rb.parent = ra


def shape_str(shape: tuple[Dim, Dim]) -> str:
    r, c = shape
    if is_one(r) and is_one(c):
        return "scalar"
    if is_one(c):
        return f"vector of length {r}"
    if is_one(r):
        return f"row vector of length {c}"
    return f"{r}x{c} matrix"


def same_dim(a: Dim, b: Dim) -> bool:
    ra, rb = a.find(), b.find()
    return ra is rb or (ra.value is not None and ra.value == rb.value)


# ----------------------------------------------------------------------------- declared types
_TYPE = re.compile(r"^\s*([a-z]+)\s*(?:\(\s*([^()]*?)\s*\))?\s*$")


class TypeSpec:
    """A variable's declared kind and optional sizes (ints or size names)."""

    __slots__ = ("kind", "sizes")

    def __init__(self, kind: str, sizes: tuple[int | str, ...] = ()):
        self.kind = kind
        self.sizes = sizes

    def __repr__(self) -> str:
        return f"{self.kind}({', '.join(map(str, self.sizes))})" if self.sizes else self.kind


def parse_type(spec: str, name: str) -> TypeSpec:
    """'spd', 'matrix(m,n)', 'vector(3)' -> TypeSpec; ParseError with a hint otherwise."""
    if isinstance(spec, TypeSpec):
        return spec
    if not isinstance(spec, str):
        raise ParseError(f"the type of {name} must be a string such as 'matrix(3,4)', not {spec!r}")
    m = _TYPE.match(spec)
    if not m or m.group(1) not in KINDS:
        raise ParseError(f"unknown type {spec!r} for {name}: use one of {', '.join(KINDS)}, "
                         "optionally with sizes, e.g. 'matrix(m,n)', 'vector(3)', 'spd(n)'")
    kind, args = m.group(1), m.group(2)
    sizes: list[int | str] = []
    if args:
        for part in args.split(","):
            part = part.strip()
            if re.fullmatch(r"\d+", part) and int(part) > 0:
                sizes.append(int(part))
            elif re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", part):
                sizes.append(part)
            else:
                raise ParseError(f"bad size {part!r} in the type {spec!r} of {name}: "
                                 "a size is a positive integer or a name")
    want = {"scalar": (0,), "vector": (0, 1), "matrix": (0, 1, 2)}.get(kind, (0, 1))
    if len(sizes) not in want:
        raise ParseError(f"the type {spec!r} of {name} takes at most {max(want)} size(s)")
    return TypeSpec(kind, tuple(sizes))


def default_kind(name: str) -> str:
    """The naming convention of matrixcalculus.org: a-g scalars, h-z vectors, A-Z matrices."""
    c = name[0]
    if "a" <= c <= "g":
        return "scalar"
    if "h" <= c <= "z":
        return "vector"
    return "matrix"


class TypeEnv:
    """Declared and conventional types of the variables, with their symbolic dims."""

    def __init__(self, types: Mapping[str, str] | None = None):
        self.specs: dict[str, TypeSpec] = {}
        self.named: dict[str, Dim] = {}
        self.shapes: dict[str, tuple[Dim, Dim]] = {}
        for name, spec in (types or {}).items():
            if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name):
                raise ParseError(f"{name!r} is not a variable name (letters, digits and _, "
                                 "starting with a letter)")
            self.specs[name] = parse_type(spec, name)

    def kind(self, name: str) -> str:
        spec = self.specs.get(name)
        return spec.kind if spec else default_kind(name)

    def _dim(self, size: int | str | None, label: str) -> Dim:
        if isinstance(size, int):
            return Dim(size, label)
        if isinstance(size, str):
            if size not in self.named:
                self.named[size] = Dim(None, size, unit_ok=False)
            return self.named[size]
        return Dim(None, label, unit_ok=False)

    def shape(self, name: str) -> tuple[Dim, Dim]:
        if name in self.shapes:
            return self.shapes[name]
        spec = self.specs.get(name) or TypeSpec(default_kind(name))
        sizes = spec.sizes
        if spec.kind == "scalar":
            shape = SCALAR_SHAPE
        elif spec.kind == "vector":
            shape = (self._dim(sizes[0] if sizes else None, f"len({name})"), ONE)
        elif spec.kind == "matrix" and len(sizes) != 1:
            rows = self._dim(sizes[0] if sizes else None, f"rows({name})")
            shape = (rows, self._dim(sizes[1] if sizes else None, f"cols({name})"))
        else:  # square: symmetric, spd, diagonal, or matrix(n)
            d = self._dim(sizes[0] if sizes else None, f"n({name})")
            shape = (d, d)
        self.shapes[name] = shape
        return shape
