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

from ..api import check, derivative, grad, hessian, parse, sweep, typed
from ..core.nodes import Add
from ..core.shapes import default_kind
from ..definitions import define
from ..display.render import mathml, mathml_lines, step_rows
from ..errors import MatdiffError, ShapeError
from ..frontend import typed_assuming
from ..functions import registry
from ..optimize import minimize
from ..results.gradient import GradientResult
from ..syntax.latex import latex_name, to_latex
from ..syntax.printer import to_text
from ..syntax.typing import variables as names_of
from ..verify.check import check_derivative, plot_sweep
from ..verify.sampling import sample_values
from .errors import from_matdiff

Payload = dict[str, Any]


def _typed(p: Payload, scalar: bool = False) -> tuple[Any, dict[str, Any]]:
    """``scalar``: a job that needs a scalar expression (a Hessian, a check), which decides kinds use leaves open."""
    return typed(p["expr"], p["types"] or None, scalar)


def _typed_assuming(p: Payload, scalar: bool = False) -> tuple[Any, dict[str, Any], dict[str, str]]:
    """The typed tree, its variables, and the types assumed from use (``{"b": "vector(rows(A)), from A*x - b"}``)."""
    tree, assumed = typed_assuming(p["expr"], p["types"] or None, scalar)
    return tree, names_of(tree), assumed


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


def _math(latex: str, text: str) -> dict[str, Any]:
    """A formula as text, LaTeX, one MathML element (``alttext`` the text) and ``lines``: the same MathML cut
    before each top-level =, + and - (the page sets them in a row that wraps; MathML does not break)."""
    return {"text": text, "latex": latex, "mathml": mathml(latex, display=True, alttext=text),
            "lines": mathml_lines(latex, display=True)}


def _types_line(vs: dict[str, Any], assumed: dict[str, str] | None, declared: dict[str, str]) -> list[dict[str, str]]:
    """Each variable's type as the derivation used it, and where it came from: "declared", "use" (inferred
    from how the expression uses it, with the reason) or "name" (the naming convention)."""
    out = []
    assumed = assumed or {}
    for n, v in vs.items():
        entry = {"name": n, "type": _type_text(v)}
        if n in declared:
            entry["from"] = "declared"
        elif n in assumed:
            entry["from"] = "use"
            entry["why"] = assumed[n].split(", from ", 1)[1] if ", from " in assumed[n] else ""
        else:
            entry["from"] = "name"
        out.append(entry)
    return out


def _type_text(v: Any) -> str:
    if v.kind == "scalar":
        return "scalar"
    rows, cols = (str(d) for d in v.shape)
    if v.kind == "vector":
        return f"vector({rows})"
    return f"{v.kind}({rows},{cols})" if rows != cols or v.kind == "matrix" else f"{v.kind}({rows})"


def _broadcast_scalar_names(tree: Any) -> set[str]:
    """The variables of the scalar terms a sum adds to a vector or matrix (``norm2(A*x - y)^2`` in
    ``norm2(A*x - y)^2 + lam*x'*x`` with lam a vector by its letter): entrywise by the language, but most often a
    loss whose coefficient's letter misleads.  Empty where no sum does that with a term that has variables."""
    names: set[str] = set()
    stack = [tree]
    while stack:
        e = stack.pop()
        if isinstance(e, Add) and not e.is_scalar:
            for t in e.terms:
                if t.is_scalar and t.free:
                    names |= set(t.free)
        stack.extend(e.children)
    return names


def variables_job(p: Payload) -> Payload:
    """The expression's variables with their kinds and sizes, and the kind of its value.

    Read as a scalar (a gradient's expression is one; the page then differentiates it as ``grad`` does and shows
    the types it assumed) where the letters' reading adds a scalar with variables to a vector or matrix, and a
    scalar reading exists that changes no name of those scalar terms (``lam`` in ``norm2(A*x - y)^2 +
    lam*x'*x``, but not ``x`` in ``x - norm2(x)``); otherwise as the letters and their use say."""
    tree, vs = _typed(p)
    held = _broadcast_scalar_names(tree) if not tree.is_scalar else set()
    if held:
        try:
            t2, vs2 = _typed(p, scalar=True)
        except MatdiffError:
            t2 = None
        if t2 is not None and not any(vs2[n].kind != vs[n].kind for n in held if n in vs2 and n in vs):
            tree, vs = t2, vs2
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
    tree, vs, assumed = _typed_assuming(p, scalar=True)
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
        "types": _types_line(vs, assumed, p["types"]),
    }


def _code(r: GradientResult) -> tuple[str | None, str]:
    """The value-and-gradient source of r's derivation, standalone (with its imports, to paste into a file);
    else the gradient's own source; else None and why."""
    try:
        return r.value_and_grad().source(standalone=True), ""
    except MatdiffError as err:
        first = str(err)
    try:
        return (r.source(standalone=True),
                f"value-and-gradient code could not be generated ({first}); this is the gradient alone")
    except MatdiffError as err:
        return None, f"no code could be generated: {err}"


def hessian_job(p: Payload) -> Payload:
    """The Hessian: a matrix for a scalar or vector variable, else the linear map and its vec form."""
    tree, vs = _typed(p, scalar=True)
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
    tree, vs, assumed = _typed_assuming(p)
    wrt = _wrt(p, vs)
    d = derivative(tree, wrt)
    kron = d.kronecker
    try:
        code, code_note = d.source(standalone=True), ""
    except MatdiffError as err:
        code, code_note = None, f"no code could be generated: {err}"
    return {
        "expr": to_text(tree), "wrt": wrt, "output": _output(tree), "variables": _variables(vs, p["types"]),
        "differential": _math(rf"\mathrm{{d}}F = {d.latex}", f"dF = {to_text(d.differential)}"),
        "latex": d.latex, "text": f"dF = {to_text(d.differential)}",
        "vec": _math(rf"\operatorname{{vec}}(\mathrm{{d}}F) = {kron[1]}", f"vec(dF) = {kron[0]}") if kron else None,
        "steps": step_rows(d.steps), "steps_text": d.steps_text,
        "code": code, "code_note": code_note, "usage": _jacobian_usage(p, wrt, list(vs), d.matrix is not None),
        "types": _types_line(vs, assumed, p["types"]),
    }


def _jacobian_usage(p: Payload, wrt: str, names: list[str], dense: bool) -> str:
    types = f", types={json.dumps(p['types'])}" if p["types"] else ""
    args = ", ".join(f"{n}={n}" for n in names)
    defs = "".join(f"matdiff.define({json.dumps(d)})\n" for d in p.get("definitions") or ())
    what = "J, with dF = J*d" + wrt if dense else "dF along the direction _d_" + wrt
    call = f"J = d.compile()({args})" if dense else f"dF = d.compile()({args}, _d_{wrt}=V)"
    return (f"import matdiff\n\n{defs}"
            f"d = matdiff.derivative({json.dumps(p['expr'])}, wrt={json.dumps(wrt)}{types})\n"
            f"{call}   # {what}\n"
            f"d.jvp(values, V); d.vjp(values, C); d.jacobian(values)   # values: a dict of arrays by name\n"
            f"print(d.source())          # the code below")


def check_job(p: Payload) -> Payload:
    """The numerical check of the gradient at a random point, the step-size sweep and its plot."""
    tree, vs = _typed(p, scalar=True)
    wrt = _wrt(p, vs)
    seed = 0 if p.get("seed") is None else int(p["seed"])
    if not tree.is_scalar:
        return _check_jacobian(p, tree, wrt, seed)
    r = grad(tree, wrt)  # derived once: checked and swept
    rep = check(r, seed=seed)
    sw = sweep(r, seed=seed)
    return {
        "expr": to_text(tree), "wrt": wrt, "seed": seed, "ok": bool(rep.ok), "what": "grad", "method": rep.method,
        "note": getattr(rep, "note", ""), "max_rel_error": _num(rep.max_rel_error),
        "expected_error": _num(rep.expected_error), "tolerance": _num(rep.tolerance),
        "details": [{k: _num(v) for k, v in d.items()} for d in rep.details], "summary": str(rep),
        "sweep": {"h": [_num(h) for h in sw.h],
                  "errors": {m: [_num(e) for e in errs] for m, errs in sw.errors.items()},
                  "best": {m: [_num(h), _num(e)] for m, (h, e) in sw.best.items()}},
        "plot": _plot(sw),
    }


def _check_jacobian(p: Payload, tree: Any, wrt: str, seed: int) -> Payload:
    """The jvp of a vector- or matrix-valued expression against Richardson-extrapolated central differences."""
    d = derivative(tree, wrt)
    values = sample_values(tree, p["types"] or None, seed=seed, wrt=wrt)
    rep = check_derivative(d, values=values, seed=seed)
    return {
        "expr": to_text(tree), "wrt": wrt, "seed": seed, "ok": bool(rep.ok), "what": "jvp",
        "method": "richardson", "note": "dF along random directions against differences of F",
        "max_rel_error": _num(rep.max_rel_error), "expected_error": _num(rep.expected_error),
        "tolerance": _num(rep.tolerance), "details": [{k: _num(v) for k, v in x.items()} for x in rep.details],
        "summary": str(rep), "sweep": None, "plot": None,
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


def _untyped_variables(p: Payload) -> list[dict[str, Any]]:
    """The names of an expression that parses but does not type: each with its declared or conventional kind."""
    try:
        vs = names_of(parse(p["expr"]))
    except MatdiffError:
        return []
    types = p.get("types") or {}
    out = []
    for n in vs:
        declared = types.get(n)
        out.append({"name": n, "kind": (declared or default_kind(n)).split("(")[0], "default_kind": default_kind(n),
                    "declared": declared, "shape": ["?", "?"]})
    return out


def solver_job(p: Payload) -> Payload:
    """A stand-alone solver script minimising the expression over the variable (NumPy and SciPy only): the
    page's Minimise panel.  It reads the other variables from an .npz file; bounds and constraints are the
    command line's (``matdiff solver``) and ``matdiff.minimize``'s."""
    tree, vs = _typed(p, scalar=True)
    wrt = _wrt(p, vs)
    types = {n: t for n, t in (p.get("types") or {}).items() if n in vs}
    script = minimize(p["expr"], wrt, types=types or None, source=True)
    assert isinstance(script, str)
    filename = f"solve_{wrt}.py"
    data = [{"name": n, "type": _type_text(v)} for n, v in vs.items() if n != wrt]
    return {"expr": to_text(tree), "wrt": wrt, "script": script, "filename": filename,
            "command": f"python {filename} data.npz --out solution.npz", "data": data,
            "lines": script.count("\n")}


JOBS: dict[str, Callable[[Payload], Payload]] = {
    "variables": variables_job,
    "grad": grad_job,
    "hessian": hessian_job,
    "jacobian": jacobian_job,
    "check": check_job,
    "solver": solver_job,
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
        body = from_matdiff(err, payload.get("expr", ""))
        if isinstance(err, ShapeError):  # the page keeps its type selectors: a declaration is often the fix
            body["error"]["variables"] = _untyped_variables(payload)
        return 400, body
    except RecursionError:
        return 400, {"error": {"kind": "LimitError", "message": "the expression is nested too deeply"}}
    except MemoryError:
        return 400, {"error": {"kind": "LimitError", "message": "the computation needs too much memory"}}
    except Exception as err:  # noqa: BLE001 - a bug must answer as data, not kill the worker
        return 500, {"error": {"kind": "InternalError",
                               "message": f"matdiff failed on this input ({type(err).__name__}: {err}); "
                                          "please report it"}}
