"""Generated code that pastes: a source that runs where only NumPy and SciPy are installed (no matdiff import).

``r.source(standalone=True)`` is the generated function preceded by the runtime it calls, inlined: the helpers
(``_arg``, ``_check``, ...), and of the shared factorizations (``_F``) and stable kernels (``_K``) exactly the
functions, classes and constants the function needs, found by following the names they refer to through
matdiff's runtime modules (:mod:`matdiff.runtime.numpy`, ``factor``, ``kernels``, ``matfun``) and copied from
their source.  Each copied definition is renamed by its module (``_F_solve``, ``_K_polar``; classes keep their
names: ``LU``, ``DomainError``) and ``_F`` / ``_K`` become namespaces of those functions, so the generated
function itself reads as ``r.source()`` does.  The errors it raises are the same classes' copies, ``DomainError``
and ``ShapeError`` (ValueErrors, as matdiff's).

What the standalone function does not do is what the compiled callable adds around it: keyword arguments, the
ShapeError that names the operands, and the check of its results for NaN/Inf (the callable checks them and then
names the input to blame).  A function defined with a Python kernel (``matdiff.define(..., numpy=...)``) has no
source to inline: a MatdiffError says so.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from collections.abc import Iterable
from functools import cache

from ..errors import MatdiffError
from ..runtime.protocol import uses

RUNTIME = "matdiff.runtime"
TAGS = {"matdiff.runtime.numpy": "R", "matdiff.runtime.factor": "F", "matdiff.runtime.kernels": "K",
        "matdiff.runtime.matfun": "M", "matdiff.runtime.protocol": "P", "matdiff.errors": "E"}
HELPERS = {"_arg": "arg", "_arg0": "arg0", "_check": "check", "_check_positive": "check_positive",
           "_nonzero": "nonzero", "_scalar": "scalar", "_dot": "dot", "_finite_inputs": "finite_inputs"}
NAMESPACES = {"_F": "matdiff.runtime.factor", "_K": "matdiff.runtime.kernels"}
FIXED = {"_np": "import numpy as _np", "_expit": "from scipy.special import expit as _expit",
         "_BadShapes": None}  # _BadShapes: the class of the protocol, copied

Symbol = tuple[str, str]  # (module, name)


class _Module:
    """A runtime module's top-level definitions and imports, from its source."""

    def __init__(self, name: str):
        self.name = name
        mod = importlib.import_module(name)
        self.tree = ast.parse(inspect.getsource(mod))
        self.defs: dict[str, ast.stmt] = {}
        self.imports: dict[str, tuple[str, str | None]] = {}  # local name -> (module, attribute or None)
        package = name.rsplit(".", 1)[0]
        for node in self.tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self.defs[node.name] = node
            elif isinstance(node, ast.Assign):
                for t in node.targets:
                    for n in ast.walk(t):
                        if isinstance(n, ast.Name):
                            self.defs[n.id] = node
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
                self.defs[node.target.id] = node
            elif isinstance(node, ast.Import):
                for a in node.names:
                    self.imports[a.asname or a.name.split(".")[0]] = (a.name if a.asname else a.name.split(".")[0],
                                                                      None)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from . import kernels, from ..errors import DomainError
                    parts = package.split(".")
                    parts = parts[:len(parts) - node.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                for a in node.names:
                    self.imports[a.asname or a.name] = (base, a.name)


@cache
def _module(name: str) -> _Module:
    return _Module(name)


def _internal(module: str) -> bool:
    return module == "matdiff" or module.startswith("matdiff.")


def _bound_names(node: ast.AST) -> set[str]:
    """The names a definition binds inside itself (parameters, assignments, loop and with targets, nested defs):
    those are never the module's globals there."""
    out: set[str] = set()
    for n in ast.walk(node):
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            a = n.args
            out.update(x.arg for x in a.posonlyargs + a.args + a.kwonlyargs)
            out.update(x.arg for x in (a.vararg, a.kwarg) if x is not None)
            if n is not node and not isinstance(n, ast.Lambda):
                out.add(n.name)
        elif isinstance(n, ast.ClassDef) and n is not node:
            out.add(n.name)
        elif isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load):
            out.add(n.id)
        elif isinstance(n, ast.ExceptHandler) and n.name:
            out.add(n.name)
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            out.update(a.asname or a.name.split(".")[0] for a in n.names)
    return out


def _value_of(node: ast.Assign | ast.AnnAssign, name: str) -> ast.expr:
    """The value a module-level assignment gives ``name`` (``a, b = x, y``: y for b)."""
    value = node.value
    assert value is not None
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    for t in targets:
        if isinstance(t, ast.Name) and t.id == name:
            return value
        if isinstance(t, (ast.Tuple, ast.List)):
            ids = [e.id if isinstance(e, ast.Name) else None for e in t.elts]
            if name in ids:
                i = ids.index(name)
                if isinstance(value, (ast.Tuple, ast.List)) and len(value.elts) == len(ids):
                    return value.elts[i]
                return ast.Subscript(value=value, slice=ast.Constant(i), ctx=ast.Load())
    raise MatdiffError(f"standalone: cannot find the value of {name}")  # pragma: no cover


class _Inliner:
    """The closure of the definitions a generated source needs, renamed and in an order that runs."""

    def __init__(self) -> None:
        self.order: list[Symbol] = []
        self.state: dict[Symbol, str] = {}  # "visiting" / "done"
        self.code: dict[Symbol, ast.stmt] = {}
        self.external: dict[str, str] = {}  # emitted name -> import line

    # -- names
    def resolve(self, module: str, name: str) -> Symbol | str | None:
        """What ``name`` is in ``module``: an internal definition (a Symbol), an external module's name (the
        emitted name, its import recorded), or None (a builtin, or not a global)."""
        m = _module(module)
        if name in m.defs:
            return (module, name)
        got = m.imports.get(name)
        if got is None:
            return None
        mod, attr = got
        if _internal(mod):
            if attr is None:
                raise MatdiffError(f"standalone: {module} imports the package {mod} as a whole")
            target = f"{mod}.{attr}"
            if target in TAGS:  # a module imported by name (from . import kernels as _K): attributes resolve
                return ("module", target)
            return self.resolve(mod, attr)
        if attr is None:
            emitted = "_np" if mod == "numpy" else "_" + mod.replace(".", "_")
            self.external[emitted] = f"import {mod} as {emitted}" if emitted != mod else f"import {mod}"
        else:
            emitted = "_expit" if (mod, attr) == ("scipy.special", "expit") else \
                "_" + mod.replace(".", "_") + "_" + attr
            self.external[emitted] = f"from {mod} import {attr} as {emitted}"
        return emitted

    def emitted(self, sym: Symbol) -> str:
        module, name = sym
        node = _module(module).defs[name]
        if isinstance(node, ast.ClassDef):
            return name  # classes keep their names (DomainError, LU, Chol): tracebacks read as matdiff's
        return f"_{TAGS[module]}_{name.lstrip('_')}" if name.startswith("_") else f"_{TAGS[module]}_{name}"

    # -- the closure
    def need(self, sym: Symbol) -> str:
        if sym[0] not in TAGS:
            raise MatdiffError(f"standalone: {sym[0]} is not a runtime module that can be inlined")
        st = self.state.get(sym)
        if st is None:
            self.state[sym] = "visiting"
            self.code[sym] = self._copy(sym)
            self.state[sym] = "done"
            self.order.append(sym)
        return self.emitted(sym)

    def _copy(self, sym: Symbol) -> ast.stmt:
        module, name = sym
        node = _module(module).defs[name]
        if isinstance(node, (ast.Assign, ast.AnnAssign)):  # a constant: only the target asked for
            node = ast.Assign(targets=[ast.Name(name, ast.Store())], value=_value_of(node, name), lineno=0)
        tree = ast.parse(ast.unparse(node)).body[0]  # a fresh copy
        local = _bound_names(tree) if not isinstance(tree, ast.Assign) else set()
        inliner = self

        class Rename(ast.NodeTransformer):
            def visit_arg(self, n: ast.arg) -> ast.arg:
                n.annotation = None
                return n

            def visit_FunctionDef(self, n: ast.FunctionDef) -> ast.AST:
                n.returns = None
                n.decorator_list = [self.visit(d) for d in n.decorator_list]
                n.args = self.visit(n.args)
                n.body = [self.visit(b) for b in n.body]
                return n

            def visit_AnnAssign(self, n: ast.AnnAssign) -> ast.AST:
                if n.value is None:
                    return ast.Pass()
                return ast.Assign(targets=[self.visit(n.target)], value=self.visit(n.value), lineno=n.lineno)

            def visit_Attribute(self, n: ast.Attribute) -> ast.AST:
                if isinstance(n.value, ast.Name) and isinstance(n.value.ctx, ast.Load) and n.value.id not in local:
                    got = inliner.resolve(module, n.value.id)
                    if isinstance(got, tuple) and got[0] == "module":
                        return ast.copy_location(ast.Name(inliner.need_in(got[1], n.attr), n.ctx), n)
                self.generic_visit(n)
                return n

            def visit_Name(self, n: ast.Name) -> ast.AST:
                if n.id in local:
                    return n
                got = inliner.resolve(module, n.id)
                if got is None:
                    return n
                if isinstance(got, str):
                    return ast.copy_location(ast.Name(got, n.ctx), n)
                if got[0] == "module":
                    raise MatdiffError(f"standalone: {module} uses the module {got[1]} as a value")
                if got == sym:
                    return ast.copy_location(ast.Name(inliner.emitted(sym), n.ctx), n)
                return ast.copy_location(ast.Name(inliner.need(got), n.ctx), n)

        if isinstance(tree, (ast.FunctionDef, ast.ClassDef)):
            tree.name = self.emitted(sym)
            if isinstance(tree, ast.FunctionDef):
                Rename().visit(tree)
            else:
                tree.decorator_list = [Rename().visit(d) for d in tree.decorator_list]
                tree.bases = [Rename().visit(b) for b in tree.bases]
                tree.body = [Rename().visit(b) for b in tree.body]
        else:
            tree.value = Rename().visit(tree.value)  # type: ignore[attr-defined]
            tree.targets = [ast.Name(self.emitted(sym), ast.Store())]  # type: ignore[attr-defined]
        return tree

    def need_in(self, module: str, name: str) -> str:
        """The emitted name of ``module``'s ``name`` (following its imports)."""
        got = self.resolve(module, name)
        if got is None:
            raise MatdiffError(f"standalone: {module} has no {name}")
        if isinstance(got, str):
            return got
        if got[0] == "module":
            raise MatdiffError(f"standalone: {module}.{name} is a module")
        return self.need(got)


def _namespace_line(name: str, members: Iterable[tuple[str, str]]) -> str:
    body = ", ".join(f"{k}={v}" for k, v in sorted(members))
    return f"{name} = _SimpleNamespace({body})"


def standalone_source(source: str) -> str:
    """The generated ``source`` with everything it calls inlined: it runs where only NumPy and SciPy are installed.

    A MatdiffError where the source calls a function defined with a Python kernel (``matdiff.define``)."""
    used = uses(ast.parse(source))
    inl = _Inliner()
    lines: list[str] = []
    namespaces: dict[str, dict[str, str]] = {}
    aliases: list[str] = []
    for u in sorted(used):
        head, _, rest = u.partition(".")
        if head == "_D" and rest:
            raise MatdiffError(f"the code calls {rest.split('.')[0]}, a function defined with a Python kernel "
                               "(matdiff.define): it has no source to paste; use r.source() with matdiff installed")
        if head in NAMESPACES or head == "_D":
            if not rest:  # the name itself, beside its attributes
                continue
            attr = rest.split(".")[0]
            namespaces.setdefault(head, {})[attr] = inl.need_in(NAMESPACES[head], attr)
        elif head in HELPERS:
            aliases.append(f"{head} = {inl.need_in('matdiff.runtime.numpy', HELPERS[head])}")
        elif head == "_BadShapes":
            aliases.append(f"_BadShapes = {inl.need_in('matdiff.runtime.protocol', 'BadShapes')}")
        elif head in FIXED:
            inl.external[head] = FIXED[head] or ""
        else:
            raise MatdiffError(f"standalone: the code calls {u}, which no runtime module provides")
    if namespaces:
        inl.external["_SimpleNamespace"] = "from types import SimpleNamespace as _SimpleNamespace"
    head = ["# Generated by matdiff; needs only NumPy and SciPy (the helpers it calls are inlined below).",
            "# It checks the shapes and the domain; unlike the compiled callable it does not check its results",
            "# for NaN/Inf."]
    imports = sorted(set(v for v in inl.external.values() if v), key=lambda s: (not s.startswith("import"), s))
    lines += head + imports + [""]
    for sym in inl.order:
        lines.append("")
        lines.append(ast.unparse(inl.code[sym]))
        if isinstance(inl.code[sym], (ast.FunctionDef, ast.ClassDef)):
            lines.append("")
    lines.append("")
    for name in sorted(namespaces):
        lines.append(_namespace_line(name, namespaces[name].items()))
    lines += aliases
    text = "\n".join(lines).rstrip("\n")
    while "\n\n\n\n" in text:
        text = text.replace("\n\n\n\n", "\n\n\n")
    return text + "\n\n\n" + source
