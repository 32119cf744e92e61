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
from .verify.check import plot_sweep
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
  matdiff grad "det(x*eye - A)" --wrt x --type x=scalar --steps
  matdiff eval "x'*A*x" x=[1,2] "A=[[2,0],[0,3]]"
  matdiff check "norm_fro(A*X-B)^2" --wrt X --plot sweep.png
  matdiff jacobian "X*A*X" --wrt X
  matdiff hessian "x'*A*x + log(sum(exp(x)))" --wrt x
  matdiff tour
  matdiff serve --open

the language: + - * / .* ./ ^ .^ ' ( ), numbers, eye, and the functions
  tr det logdet inv adj norm_fro norm2 norm_nuc norm1 sum diag exp log sin cos tanh sqrt abs
names a-g are scalars, h-z vectors, A-Z matrices unless --type says otherwise
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


def cmd_grad(args: argparse.Namespace) -> int:
    r = grad(args.expr, wrt=args.wrt, types=_types(args.type))  # derived once: printed, compiled, checked
    if args.steps:
        print(r.steps_text)
        print()
    if args.latex:
        print(r.steps_latex if args.steps else r.latex)
    else:
        print(r.gradient)
    if args.code:
        print()
        print(r.value_and_grad().source())
    if args.check:
        print()
        rep = check(r, seed=args.seed)
        print(rep)
        if not rep.ok:  # the same status as `matdiff check`: a script must not take a failure for success
            return CHECK_FAILED
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    _print_value(evaluate(args.expr, _values(args.values), types=_types(args.type)))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    r = grad(args.expr, wrt=args.wrt, types=_types(args.type))  # derived once: checked, then swept
    values = _values(args.values) if args.values else None
    rep = check(r, values=values, method=args.method, seed=args.seed)
    print(rep)
    if args.plot:
        res = sweep(r, values=values, seed=args.seed)
        plot_sweep(res, args.plot)
        print(f"step-size sweep written to {args.plot}")
    return 0 if rep.ok else CHECK_FAILED


def cmd_jacobian(args: argparse.Namespace) -> int:
    d = derivative(args.expr, wrt=args.wrt, types=_types(args.type))
    if args.steps:
        print(d.steps_latex if args.latex else d.steps_text)
        return 0
    print(f"dF = {d.differential}" if not args.latex else d.latex)
    if d.matrix is not None:  # a vector of a vector: the Jacobian itself, dF = J*dx
        print(f"J = {to_latex(d.matrix) if args.latex else d.jacobian_text}")
    elif d.kronecker is not None:
        print(f"vec(dF) = {d.kronecker[1] if args.latex else d.kronecker[0]}")
    print(d.steps[-1].text.split("    [")[0])
    return 0


def cmd_hessian(args: argparse.Namespace) -> int:
    h = hessian(args.expr, wrt=args.wrt, types=_types(args.type))
    if args.steps:
        print(h.steps_latex if args.latex else h.steps_text)
        print()
    if h.expr is not None:
        print(h.latex if args.latex else h.expr)
    else:
        print(f"H[d{args.wrt}] = {h.second_differential}")
        if getattr(h, "kronecker", None):
            print(f"vec form: {h.kronecker[0]}")
    if args.code:
        print()
        print(h.source(args.code))
    return 0


def cmd_tour(args: argparse.Namespace) -> int:
    return tour(latex=args.latex)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="matdiff",
        description="Matrix differential calculus: gradients with textbook steps, NumPy code, checks.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")

    g = sub.add_parser("grad", help="the gradient of a scalar expression, with its derivation",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    g.add_argument("expr", help="the expression, e.g. \"x'*A*x\"")
    g.add_argument("--wrt", required=True, help="the variable to differentiate with respect to")
    g.add_argument("--type", action="append", metavar="NAME=TYPE",
                   help="declare a type: scalar, vector, matrix, symmetric, spd, optionally with sizes")
    g.add_argument("--steps", action="store_true", help="show the derivation step by step")
    g.add_argument("--latex", action="store_true", help="print LaTeX")
    g.add_argument("--code", choices=["numpy"], help="print the generated code")
    g.add_argument("--check", action="store_true",
                   help=f"verify the gradient numerically at a random point; exit status {CHECK_FAILED} "
                        "if the check fails")
    g.add_argument("--seed", type=int, default=0, help="seed of the random point for --check")
    g.set_defaults(run=cmd_grad)

    e = sub.add_parser("eval", help="evaluate an expression at given values")
    e.add_argument("expr")
    e.add_argument("values", nargs="*", metavar="NAME=VALUE", help="x=[1,2] A=[[1,0],[0,1]] a=2 X=@file.npy")
    e.add_argument("--type", action="append", metavar="NAME=TYPE")
    e.set_defaults(run=cmd_eval)

    c = sub.add_parser("check", help="verify a gradient against finite differences and the complex step",
                       description="Verify the gradient numerically; exit status 0 if it passes, "
                                   f"{CHECK_FAILED} if it fails, 2 on an error.")
    c.add_argument("expr")
    c.add_argument("--wrt", required=True)
    c.add_argument("--type", action="append", metavar="NAME=TYPE")
    c.add_argument("values", nargs="*", metavar="NAME=VALUE", help="the point (random if not given)")
    c.add_argument("--method", default="auto", choices=["auto", "forward", "central", "richardson", "complex"])
    c.add_argument("--plot", metavar="PNG", help="write the step-size sweep (log-log) to this file")
    c.add_argument("--seed", type=int, default=0)
    c.set_defaults(run=cmd_check)

    j = sub.add_parser("jacobian", help="the derivative of a vector- or matrix-valued expression")
    j.add_argument("expr")
    j.add_argument("--wrt", required=True)
    j.add_argument("--type", action="append", metavar="NAME=TYPE")
    j.add_argument("--steps", action="store_true")
    j.add_argument("--latex", action="store_true")
    j.set_defaults(run=cmd_jacobian)

    h = sub.add_parser("hessian", help="the Hessian of a scalar expression (by the second differential)")
    h.add_argument("expr")
    h.add_argument("--wrt", required=True)
    h.add_argument("--type", action="append", metavar="NAME=TYPE")
    h.add_argument("--steps", action="store_true")
    h.add_argument("--latex", action="store_true")
    h.add_argument("--code", choices=["numpy"])
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
