"""The API's request bodies, read and checked before any work is done (no eval: only data)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from .errors import limit_error, request_error
from .limits import Limits

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_NUMBER = re.compile(r"\d+")


@dataclass(frozen=True)
class Query:
    """One request: the expression, the variable (None: the first one found), declared types, a seed, and
    functions defined for this request (``"soft(U) = log(1 + exp(U))"``, as matdiff.define takes them)."""

    expr: str
    wrt: str | None = None
    types: dict[str, str] = field(default_factory=dict)
    seed: int | None = None
    definitions: tuple[str, ...] = ()

    def payload(self) -> dict[str, Any]:
        """The plain dict sent to a worker process."""
        return {"expr": self.expr, "wrt": self.wrt, "types": dict(self.types), "seed": self.seed,
                "definitions": list(self.definitions)}


def decode(raw: bytes) -> Any:
    """The JSON document in a request body (RequestError if it is not JSON)."""
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise request_error("the request body is not UTF-8 text") from None
    except (json.JSONDecodeError, RecursionError) as err:
        raise request_error(f"the request body is not JSON: {getattr(err, 'msg', err)}") from None


def read_query(body: Any, limits: Limits) -> Query:
    """The Query in a decoded body: ``{"expr": str, "wrt"?: str, "types"?: {name: str}, "seed"?: int,
    "definitions"?: [str]}``."""
    if not isinstance(body, dict):
        raise request_error('the request body must be a JSON object like {"expr": "norm_fro(X)", "wrt": "X"}')
    unknown = sorted(set(body) - {"expr", "wrt", "types", "seed", "definitions"})
    if unknown:
        raise request_error(f"unknown field(s): {', '.join(unknown)} (known: expr, wrt, types, seed, definitions)",
                            field=unknown[0])
    return Query(expr=_expr(body.get("expr"), limits), wrt=_wrt(body.get("wrt")),
                 types=_types(body.get("types"), limits), seed=_seed(body.get("seed")),
                 definitions=_definitions(body.get("definitions"), limits))


MAX_DEFINITIONS = 16


def _definitions(value: Any, limits: Limits) -> tuple[str, ...]:
    """Functions defined by an expression for this request (a primitive needs Python: not from a page)."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(d, str) for d in value):
        raise request_error('"definitions" must be a list of strings like ["soft(U) = log(1 + exp(U))"]',
                            "definitions")
    if len(value) > MAX_DEFINITIONS:
        raise limit_error(f'"definitions" holds {len(value)} definitions; the limit is {MAX_DEFINITIONS}',
                          "definitions")
    for d in value:
        if len(d) > limits.max_expr_chars:
            raise limit_error(f"a definition is {len(d)} characters long; the limit is {limits.max_expr_chars}",
                              "definitions")
        if "=" not in d:
            raise request_error(f"{d!r} is not a definition: write it as name(U) = expression", "definitions")
    return tuple(d for d in value if d.strip())


def _expr(value: Any, limits: Limits) -> str:
    if value is None:
        raise request_error('"expr" is required: the expression to differentiate, e.g. "norm_fro(X)"', "expr")
    if not isinstance(value, str):
        raise request_error(f'"expr" must be a string, not {_json_type(value)}', "expr")
    if not value.strip():
        raise request_error('"expr" is empty: type an expression, e.g. "norm_fro(X)"', "expr")
    if len(value) > limits.max_expr_chars:
        raise limit_error(f"the expression is {len(value)} characters long; the limit is "
                          f"{limits.max_expr_chars}", "expr")
    return value


def _wrt(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise request_error(f'"wrt" must be the name of one variable (a string), not {_json_type(value)}', "wrt")
    if not _NAME.fullmatch(value) or len(value) > 64:
        raise request_error(f'"wrt" must be a variable name like X or x1, not {value!r}', "wrt")
    return value


def _types(value: Any, limits: Limits) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise request_error(f'"types" must be an object like {{"S": "spd"}}, not {_json_type(value)}', "types")
    if len(value) > limits.max_types:
        raise limit_error(f'"types" declares {len(value)} variables; the limit is {limits.max_types}', "types")
    out: dict[str, str] = {}
    for name, spec in value.items():
        if not _NAME.fullmatch(name) or len(name) > 64:
            raise request_error(f'"types" names {name!r}, which is not a variable name', "types")
        if not isinstance(spec, str):
            raise request_error(f'the type of {name} must be a string like "spd" or "matrix(3,4)", '
                                f"not {_json_type(spec)}", "types")
        if len(spec) > 64:
            raise limit_error(f"the type of {name} is too long", "types")
        for number in _NUMBER.findall(spec):
            if int(number) > limits.max_size:
                raise limit_error(f"the type of {name} asks for size {number}; the limit is {limits.max_size}",
                                  "types")
        out[name] = spec
    return out


def _seed(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**32:
        raise request_error('"seed" must be an integer from 0 to 2**32 - 1', "seed")
    return value


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number",
             float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)
