"""The work behind each API call, as plain functions of a plain dict, run inside a worker process.

Each job returns a JSON-able dict; :func:`run_job` turns every exception into an error body, so
nothing but data ever leaves a worker (no traceback reaches a client).
"""

from __future__ import annotations

import base64
import json
import math
import os
import tempfile
from collections.abc import Callable
from typing import Any

import numpy as np

from ..api import check, derivative, grad, hessian, sweep, typed
from ..core.shapes import default_kind
from ..definitions import define
from ..display.render import mathml, step_rows
from ..errors import MatdiffError
from ..functions import registry
from ..results.gradient import GradientResult
from ..syntax.latex import latex_name, to_latex
from ..syntax.printer import to_text
from ..verify.check import plot_sweep
from .errors import from_matdiff

Payload = dict[str, Any]


def _typed(p: Payload) -> tuple[Any, dict[str, Any]]:
    return typed(p["expr"], p["types"] or None)


def _variables(vs: dict[str, Any], types: dict[str, str]) -> list[dict[str, Any]]:
    return [{"name": n, "kind": v.kind, "default_kind": default_kind(n), "declared": types.get(n),
             "shape": [str(d) for d in v.shape]} for n, v in vs.items()]


def _output(tree: Any) -> dict[str, Any]:
    kind = "scalar" if tree.is_scalar else "vector" if tree.is_vector else "matrix"
    return {"kind": kind, "shape": [str(d) for d in tree.shape]}


def _wrt(p: Payload, vs: dict[str, Any]) -> str:
    """The variable asked for, or the first one of the expression."""
    if p.get("wrt"):
        return str(p["wrt"])
    if not vs:
        raise MatdiffError(f"{p['expr']} has no variable to differentiate with respect to")
    return next(iter(vs))


def _math(latex: str, text: str) -> dict[str, str]:
    return {"text": text, "latex": latex, "mathml": mathml(latex, display=True)}


def variables_job(p: Payload) -> Payload:
    """The expression's variables with their kinds and sizes, and the kind of its value."""
    tree, vs = _typed(p)
    return {"expr": to_text(tree), "latex": to_latex(tree), "output": _output(tree),
            "variables": _variables(vs, p["types"])}


def _usage(p: Payload, wrt: str, names: list[str]) -> str:
    types = f", types={json.dumps(p['types'])}" if p["types"] else ""
    args = ", ".join(f"{n}={n}" for n in names)
    defs = "".join(f"matdiff.define({json.dumps(d)})\n" for d in p.get("definitions") or ())
    return (f"import matdiff\n\n{defs}"
            f"fg = matdiff.compile({json.dumps(p['expr'])}, wrt=[{json.dumps(wrt)}]{types})\n"
            f"value, grads = fg({args})   # grads[{json.dumps(wrt)}] is the gradient\n"
            f"print(fg.source())          # the code below")


def grad_job(p: Payload) -> Payload:
    """The gradient, its derivation, the differential and the generated NumPy code (one derivation)."""
    tree, vs = _typed(p)
    wrt = _wrt(p, vs)
    r = grad(tree, wrt)
    name = latex_name(wrt)
    headline = rf"\nabla_{{{name}}}\, {to_latex(r.expr)} = {r.latex}"
    df = r.differential
    code, code_note = _code(r)
    return {
        "expr": to_text(r.expr), "wrt": wrt, "kind": r.var.kind,
        "output": _output(tree), "variables": _variables(vs, p["types"]),
        "gradient": str(r.gradient), "latex": r.latex, "mathml": mathml(r.latex, display=True),
        "equation": _math(headline, f"grad_{wrt} {to_text(r.expr)} = {r.gradient}"),
        "differential": _math(rf"\mathrm{{d}}f = {to_latex(df)}", f"df = {to_text(df)}"),
        "steps": step_rows(r.steps), "steps_text": r.steps_text, "steps_latex": r.steps_latex,
        "code": code, "code_note": code_note, "usage": _usage(p, wrt, list(vs)),
    }


def _code(r: GradientResult) -> tuple[str | None, str]:
    """The value-and-gradient source of r's derivation; else the gradient's own source; else None and why."""
    try:
        return r.value_and_grad().source(), ""
    except MatdiffError as err:
        first = str(err)
    try:
        return r.source(), f"value-and-gradient code could not be generated ({first}); this is the gradient alone"
    except MatdiffError as err:
        return None, f"no code could be generated: {err}"


def hessian_job(p: Payload) -> Payload:
    """The Hessian: a matrix for a scalar or vector variable, else the linear map and its vec form."""
    tree, vs = _typed(p)
    wrt = _wrt(p, vs)
    h = hessian(tree, wrt)
    name = latex_name(wrt)
    out: Payload = {"expr": to_text(tree), "wrt": wrt, "steps": step_rows(h.steps), "steps_text": h.steps_text}
    if h.expr is not None:
        out["form"] = "matrix"
        out["hessian"] = _math(rf"\nabla^2_{{{name}}}\, f = {to_latex(h.expr)}", f"hessian_{wrt} f = {h.expr}")
    else:
        out["form"] = "linear map"
        d2 = h.second_differential
        out["hessian"] = _math(rf"\mathrm{{d}}\left(\nabla_{{{name}}} f\right) = {to_latex(d2)}",
                               f"d(grad_{wrt} f) = {to_text(d2)}")
    kron = getattr(h, "kronecker", None)
    out["vec"] = _math(rf"\operatorname{{vec}}\left(\mathrm{{d}}\nabla_{{{name}}} f\right) = {kron[1]}",
                       f"vec(d grad_{wrt} f) = {kron[0]}") if kron else None
    return out


def jacobian_job(p: Payload) -> Payload:
    """The derivative of an expression of any shape: dF, its vec (Kronecker) form, and the steps."""
    tree, vs = _typed(p)
    wrt = _wrt(p, vs)
    d = derivative(tree, wrt)
    kron = d.kronecker
    return {
        "expr": to_text(tree), "wrt": wrt, "output": _output(tree), "variables": _variables(vs, p["types"]),
        "differential": _math(rf"\mathrm{{d}}F = {d.latex}", f"dF = {to_text(d.differential)}"),
        "vec": _math(rf"\operatorname{{vec}}(\mathrm{{d}}F) = {kron[1]}", f"vec(dF) = {kron[0]}") if kron else None,
        "steps": step_rows(d.steps), "steps_text": d.steps_text,
    }


def check_job(p: Payload) -> Payload:
    """The numerical check of the gradient at a random point, the step-size sweep and its plot."""
    tree, vs = _typed(p)
    wrt = _wrt(p, vs)
    seed = 0 if p.get("seed") is None else int(p["seed"])
    r = grad(tree, wrt)  # derived once: checked and swept
    rep = check(r, seed=seed)
    sw = sweep(r, seed=seed)
    return {
        "expr": to_text(tree), "wrt": wrt, "seed": seed, "ok": bool(rep.ok), "method": rep.method,
        "note": getattr(rep, "note", ""), "max_rel_error": _num(rep.max_rel_error),
        "expected_error": _num(rep.expected_error), "tolerance": _num(rep.tolerance),
        "details": [{k: _num(v) for k, v in d.items()} for d in rep.details], "summary": str(rep),
        "sweep": {"h": [_num(h) for h in sw.h],
                  "errors": {m: [_num(e) for e in errs] for m, errs in sw.errors.items()},
                  "best": {m: [_num(h), _num(e)] for m, (h, e) in sw.best.items()}},
        "plot": _plot(sw),
    }


def _num(x: Any) -> float | None:
    """A JSON number (None for NaN and infinities, which JSON lacks)."""
    try:
        v = float(np.real(x))
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _plot(sw: Any) -> str | None:
    """The sweep's PNG as a data URI (None without matplotlib)."""
    fd, path = tempfile.mkstemp(suffix=".png", prefix="matdiff-sweep-")
    os.close(fd)
    try:
        try:
            plot_sweep(sw, path)
        except MatdiffError:
            return None
        with open(path, "rb") as fh:
            return "data:image/png;base64," + base64.b64encode(fh.read()).decode("ascii")
    finally:
        os.unlink(path)


JOBS: dict[str, Callable[[Payload], Payload]] = {
    "variables": variables_job,
    "grad": grad_job,
    "hessian": hessian_job,
    "jacobian": jacobian_job,
    "check": check_job,
}


class _DefinitionError(Exception):
    def __init__(self, error: MatdiffError, text: str, index: int):
        self.error, self.text, self.index = error, text, index


def _define(definitions: Any) -> None:
    for i, text in enumerate(definitions):
        try:
            define(text)
        except MatdiffError as err:
            raise _DefinitionError(err, text, i) from None


def run_job(name: str, payload: Payload) -> tuple[int, Payload]:
    """(HTTP status, body) of a job: 200 and its result, or 4xx/500 and an error body; never raises.

    The request's definitions (functions defined by an expression) hold for this job only."""
    try:
        with registry.scoped():
            _define(payload.get("definitions") or ())
            return 200, JOBS[name](payload)
    except _DefinitionError as err:
        body = from_matdiff(err.error, err.text)
        body["error"]["field"] = "definitions"
        body["error"]["index"] = err.index
        return 400, body
    except MatdiffError as err:
        return 400, from_matdiff(err, payload.get("expr", ""))
    except RecursionError:
        return 400, {"error": {"kind": "LimitError", "message": "the expression is nested too deeply"}}
    except MemoryError:
        return 400, {"error": {"kind": "LimitError", "message": "the computation needs too much memory"}}
    except Exception as err:  # noqa: BLE001 - a bug must answer as data, not kill the worker
        return 500, {"error": {"kind": "InternalError",
                               "message": f"matdiff failed on this input ({type(err).__name__}: {err}); "
                                          "please report it"}}
