"""The ``matdiff`` command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from .api import check, derivative, evaluate, grad, hessian, sweep
from .errors import MatdiffError
from .optimize.cli import add_minimize_parsers
from .syntax.latex import to_latex
from .tour import tour
from .verify.check import check_derivative, check_hessian, plot_sweep
from .web.cli_serve import add_serve_parser

CHECK_FAILED = 1
"""The exit status of a numerical check that failed (``check``, ``grad --check``, ``tour``); 2 is an error."""

EXIT_STATUS = """\
exit status:
  0  success (and every numerical check passed)
  1  a numerical check failed (matdiff check, matdiff grad --check, matdiff tour)
  2  an error: the expression, a type, a value or the command line is wrong
"""

EXAMPLES = """\
examples:
  matdiff grad "norm_fro(X)" --wrt X --steps
  matdiff grad "x'*A*y" --wrt A --latex
  matdiff grad "logdet(S) + tr(inv(S)*C)" --wrt S --type S=spd --code numpy --check
  matdiff grad "det(x*eye - A)" --wrt x --steps
  matdiff grad "norm_fro(A*X - B)^2 + lam*norm_fro(X)^2" --wrt A,X
  matdiff grad "x'*A*x" --wrt x --code numpy --standalone
  matdiff eval "x'*A*x" x=[1,2] "A=[[2,0],[0,3]]"
  matdiff check "norm_fro(A*X-B)^2" --wrt X --plot sweep.png
  matdiff jacobian "X*A*X" --wrt X
  matdiff jacobian "softmax(x)" --wrt x --check --code numpy
  matdiff hessian "x'*A*x + log(sum(exp(x)))" --wrt x --check
  matdiff tour
  matdiff serve --open

the language: + - * / .* ./ ^ .^ ' ( ), numbers, eye, and the functions
  tr det logdet inv adj norm_fro norm2 norm_nuc norm1 sum diag exp log sin cos tanh sqrt abs
  expm logm sqrtm eigmax eigmin eigvals logsumexp softmax sigmoid relu softplus
undeclared names take their kinds from use (A*x - b makes b a vector, x*eye - A makes x a scalar),
else from their letters: a-g scalars, h-z vectors, A-Z matrices
(--type S=spd, --type X=matrix(3,4), --type x=scalar, --type v=vector(n)).

""" + EXIT_STATUS


def _types(pairs: Sequence[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for p in pairs or []:
        if "=" not in p:
            raise MatdiffError(f"--type takes NAME=TYPE (e.g. S=spd), not {p!r}")
        name, spec = p.split("=", 1)
        out[name.strip()] = spec.strip()
    return out


def _value(name: str, text: str) -> Any:
    """A value from the command line: a number, a JSON list, or @file.npy / @file.txt."""
    text = text.strip()
    if text.startswith("@"):
        path = text[1:]
        try:
            return np.load(path) if path.endswith(".npy") else np.loadtxt(path, ndmin=1)
        except OSError as err:
            raise MatdiffError(f"cannot read the value of {name} from {path}: {err}") from None
    try:
        return np.asarray(json.loads(text), dtype=float)
    except (ValueError, TypeError):
        raise MatdiffError(f"the value of {name} must be a number or a JSON list like [[1,2],[3,4]], "
                           f"not {text!r}") from None


def _values(pairs: Sequence[str]) -> dict[str, Any]:
    out = {}
    for p in pairs:
        if "=" not in p:
            raise MatdiffError(f"give values as NAME=VALUE (e.g. x=[1,2,3]), not {p!r}")
        name, text = p.split("=", 1)
        out[name.strip()] = _value(name.strip(), text)
    return out


def _print_value(v: Any) -> None:
    if isinstance(v, (float, int, complex)):
        print(repr(v))
    else:
        with np.printoptions(precision=10, suppress=False, linewidth=120):
            print(np.asarray(v))


def _wrt(args: argparse.Namespace) -> str | list[str]:
    """--wrt A,x or --wrt A --wrt x: one name, or a list of several (each once)."""
    names: list[str] = []
    for part in args.wrt or []:
        for n in part.split(","):
            n = n.strip()
            if not n:
                raise MatdiffError(f"--wrt takes variable names separated by commas, not {part!r}")
            if n in names:
                raise MatdiffError(f"--wrt names {n} twice")
            names.append(n)
    return names[0] if len(names) == 1 else names


def _code(result: Any, args: argparse.Namespace) -> str:
    """The generated source of a result: importable matdiff code, or (--standalone) NumPy/SciPy only."""
    if getattr(args, "standalone", False):
        return result.source(standalone=True)
    return result.source()


def _check_report(rep: Any) -> int:
    print(rep)
    return 0 if rep.ok else CHECK_FAILED  # a script must not take a failure for success


def cmd_grad(args: argparse.Namespace) -> int:
    wrt = _wrt(args)
    r = grad(args.expr, wrt=wrt, types=_types(args.type))  # derived once: printed, compiled, checked
    results = r.results if isinstance(wrt, list) else {wrt: r}  # type: ignore[union-attr]
    for name, one in results.items():
        if args.steps:
            print(one.steps_text)
            print()
        label = f"grad_{name} f = " if isinstance(wrt, list) and not args.latex else ""
        print(label + (one.steps_latex if args.latex and args.steps else one.latex if args.latex
                       else str(one.gradient)))
    status = 0
    if args.code:
        print()
        vg = r.value_and_grad()
        print(vg.source(standalone=True) if args.standalone else vg.source())
    if args.check:
        for one in results.values():
            print()
            status = max(status, _check_report(check(one, seed=args.seed)))
    return status


def cmd_eval(args: argparse.Namespace) -> int:
    _print_value(evaluate(args.expr, _values(args.values), types=_types(args.type)))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    r = grad(args.expr, wrt=_one_wrt(args), types=_types(args.type))  # derived once: checked, then swept
    values = _values(args.values) if args.values else None
    rep = check(r, values=values, method=args.method, seed=args.seed)
    print(rep)
    if args.plot:
        res = sweep(r, values=values, seed=args.seed)
        plot_sweep(res, args.plot)
        print(f"step-size sweep written to {args.plot}")
    return 0 if rep.ok else CHECK_FAILED


def _one_wrt(args: argparse.Namespace) -> str:
    wrt = _wrt(args)
    if isinstance(wrt, list):
        raise MatdiffError(f"{args.command} takes one variable with --wrt, not {', '.join(wrt)}")
    return wrt


def cmd_jacobian(args: argparse.Namespace) -> int:
    d = derivative(args.expr, wrt=_one_wrt(args), types=_types(args.type))
    if args.steps:
        print(d.steps_latex if args.latex else d.steps_text)
    else:
        print(f"dF = {d.differential}" if not args.latex else d.latex)
        if d.matrix is not None:  # a vector of a vector: the Jacobian itself, dF = J*dx
            print(f"J = {to_latex(d.matrix) if args.latex else d.jacobian_text}")
        elif d.kronecker is not None:
            print(f"vec(dF) = {d.kronecker[1] if args.latex else d.kronecker[0]}")
        print(d.steps[-1].text.split("    [")[0])
    status = 0
    if args.code:
        print()
        print(_code(d, args))
    if args.check:
        print()
        status = _check_report(check_derivative(d, seed=args.seed))
    return status


def cmd_hessian(args: argparse.Namespace) -> int:
    h = hessian(args.expr, wrt=_one_wrt(args), types=_types(args.type))
    if args.steps:
        print(h.steps_latex if args.latex else h.steps_text)
        print()
    if h.expr is not None:
        print(h.latex if args.latex else h.expr)
    else:
        print(f"H[d{h.wrt}] = {h.second_differential}")
        if getattr(h, "kronecker", None):
            print(f"vec form: {h.kronecker[0]}")
    status = 0
    if args.code:
        print()
        print(_code(h, args))
    if args.check:
        print()
        status = _check_report(check_hessian(h, seed=args.seed))
    return status


def cmd_tour(args: argparse.Namespace) -> int:
    return tour(latex=args.latex)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="matdiff",
        description="Matrix differential calculus: gradients with textbook steps, NumPy code, checks.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")

    def common(p: argparse.ArgumentParser, wrt: str = "the variable to differentiate with respect to") -> None:
        p.add_argument("expr", help="the expression, in quotes, e.g. \"x'*A*x\" (see matdiff --help)")
        p.add_argument("--wrt", required=True, action="append", metavar="NAME", help=wrt)
        p.add_argument("--type", action="append", metavar="NAME=TYPE",
                       help="declare a type: scalar, vector, matrix, symmetric, spd or diagonal, optionally with "
                            "sizes (S=spd, X=matrix(3,4), v=vector(n)); repeat for several names. Undeclared "
                            "names take their kinds from use (A*x - b makes b a vector), then from their letters")

    def shown(p: argparse.ArgumentParser, what: str) -> None:
        p.add_argument("--steps", action="store_true", help=f"show the derivation of the {what}, one rule a line")
        p.add_argument("--latex", action="store_true", help="print LaTeX instead of text")

    def coded(p: argparse.ArgumentParser, what: str) -> None:
        p.add_argument("--code", choices=["numpy"], help=f"print the generated NumPy code of the {what}")
        p.add_argument("--standalone", action="store_true",
                       help="with --code: code that runs with only NumPy and SciPy installed (no matdiff import)")

    def checked(p: argparse.ArgumentParser, what: str) -> None:
        p.add_argument("--check", action="store_true",
                       help=f"verify the {what} numerically at a random point; exit status {CHECK_FAILED} if the "
                            "check fails")
        p.add_argument("--seed", type=int, default=0, help="seed of the random point for --check (default 0)")

    g = sub.add_parser("grad", help="the gradient of a scalar expression, with its derivation",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    common(g, "the variable to differentiate with respect to; several as --wrt A,x (or --wrt A --wrt x)")
    shown(g, "gradient")
    coded(g, "value and gradient(s)")
    checked(g, "gradient (each, for several)")
    g.set_defaults(run=cmd_grad)

    e = sub.add_parser("eval", help="evaluate an expression at given values")
    e.add_argument("expr", help="the expression, in quotes")
    e.add_argument("values", nargs="*", metavar="NAME=VALUE",
                   help="the values: a number, a JSON list (x=[1,2] A=[[1,0],[0,1]]) or a file (X=@file.npy)")
    e.add_argument("--type", action="append", metavar="NAME=TYPE", help="declare a type (as for grad)")
    e.set_defaults(run=cmd_eval)

    c = sub.add_parser("check", help="verify a gradient against finite differences and the complex step",
                       description="Verify the gradient numerically; exit status 0 if it passes, "
                                   f"{CHECK_FAILED} if it fails, 2 on an error.")
    common(c)
    c.add_argument("values", nargs="*", metavar="NAME=VALUE",
                   help="the point, as for eval (a random point if not given)")
    c.add_argument("--method", default="auto", choices=["auto", "forward", "central", "richardson", "complex"],
                   help="the numerical derivative: auto (the complex step where the expression is analytic, else "
                        "Richardson extrapolation), forward, central, richardson or complex")
    c.add_argument("--plot", metavar="PNG", help="write the error against the step size (log-log) to this file")
    c.add_argument("--seed", type=int, default=0, help="seed of the random point (default 0)")
    c.set_defaults(run=cmd_check)

    j = sub.add_parser("jacobian", help="the derivative of a vector- or matrix-valued expression")
    common(j)
    shown(j, "derivative")
    coded(j, "Jacobian (the jvp where there is no Jacobian matrix in the language)")
    checked(j, "derivative (its jvp along random directions)")
    j.set_defaults(run=cmd_jacobian)

    h = sub.add_parser("hessian", help="the Hessian of a scalar expression (by the second differential)")
    common(h)
    shown(h, "gradient and Hessian")
    coded(h, "Hessian")
    checked(h, "Hessian (its hvp along random directions, against differences of the gradient)")
    h.set_defaults(run=cmd_hessian)

    t = sub.add_parser("tour", help="the textbook page: four derivations, checks and the p'(x) experiment")
    t.add_argument("--latex", action="store_true", help="also print each derivation in LaTeX")
    t.set_defaults(run=cmd_tour)

    add_serve_parser(sub)
    add_minimize_parsers(sub)
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    ap = build_parser()
    args, extra = ap.parse_known_args(argv)
    if extra:  # NAME=VALUE given after the options
        if hasattr(args, "values") and all("=" in a and not a.startswith("-") for a in extra):
            args.values = list(args.values or []) + extra
        else:
            ap.error(f"unrecognized arguments: {' '.join(extra)}")
    if not getattr(args, "run", None):
        ap.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except MatdiffError as err:
        print(f"matdiff: {type(err).__name__}: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # pragma: no cover
        return 130
    except BrokenPipeError:  # pragma: no cover - output piped into head and the like
        sys.stderr.close()
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
