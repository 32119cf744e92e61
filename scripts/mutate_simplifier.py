"""Mutation run over the simplifier's rewrite rules: each mutant must make tests/test_rewrites.py fail.

Each mutant changes one rule so that it is wrong on a narrow pattern (the issue's example: the
inverse pair also cancelling ``inv(A)*A'``).  The script applies one mutant at a time to the
source, runs the rewrite property tests, restores the source, and reports which mutants the tests
kill.  Exit status 1 if any survives.

    python scripts/mutate_simplifier.py            # all mutants
    python scripts/mutate_simplifier.py -k sigmoid # those whose name contains "sigmoid"
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "matdiff"

# (name, file under src/matdiff, the text of the rule, the mutant's text)
MUTANTS: list[tuple[str, str, str, str]] = [
    ("inverse pair also cancels inv(A)*A' (the issue's example)", "calculus/simplify.py",
     "(isinstance(a, Call) and a.fn is inv and a.arg == b)",
     "(isinstance(a, Call) and a.fn is inv and (a.arg == b or T(a.arg) == b))"),
    ("inverse pair cancels when only one factor is transposed", "calculus/simplify.py",
     "        a, b = a.arg, b.arg\n    return (isinstance(a, Call) and a.fn is inv",
     "        a, b = a.arg, b.arg\n    a, b = getattr(a, 'arg', a), getattr(b, 'arg', b)\n"
     "    return (isinstance(a, Call) and a.fn is inv"),
    ("chain power merges different factors", "calculus/simplify.py",
     "if x != y or x.linear", "if x.linear"),
    ("chain power miscounts the exponent", "calculus/simplify.py",
     "    return x, j + k\n", "    return x, max(j, k) + 1\n"),
    ("chain power treats X and X' as one base", "calculus/simplify.py",
     "    (x, j), (y, k) = _power_of(a), _power_of(b)\n",
     "    (x, j), (y, k) = _power_of(a), _power_of(b)\n"
     "    x, y = (x.arg if isinstance(x, Transpose) else x), (y.arg if isinstance(y, Transpose) else y)\n"),
    ("adj(A) becomes inv(A) without det(A) below", "calculus/simplify.py",
     "key = self.call(det, g.arg)\n            if scal.get(key, 0) <= -1:",
     "key = self.call(det, g.arg)\n            if scal.get(key, 0) <= 0:"),
    ("adj(A)/det(A) = inv(A) keeps the det", "calculus/simplify.py",
     "scal[key] = fold(\"+\", scal[key], 1)\n                inverse",
     "scal[key] = scal[key]\n                inverse"),
    ("adj(A)' becomes inv(A), untransposed", "calculus/simplify.py",
     "out[i] = self.T(inverse) if f is not g else inverse", "out[i] = inverse"),
    ("adj(inv(A)) = det(A)*A", "functions/linalg.py",
     "return S.product([S.call(det, a), a.arg])", "return S.product([S.call(det, a.arg), a.arg])"),
    ("adj(A') = adj(A)", "functions/linalg.py",
     "return S.T(Call(adj, a.arg))", "return Call(adj, a.arg)"),
    ("c - sigmoid(u) = sigmoid(-u) for any negative coefficient", "calculus/simplify.py",
     "return rest.arg if c == -1 and getattr(rest, \"fn\", None) is sigmoid",
     "return rest.arg if c < 0 and getattr(rest, \"fn\", None) is sigmoid"),
    ("1 - sigmoid(u) = sigmoid(u)", "calculus/simplify.py",
     "            return self.call(sigmoid, self.product([Num(-1), u]))",
     "            return self.call(sigmoid, u)"),
    ("exp(u).*sigmoid(u) = sigmoid(u)", "calculus/simplify.py",
     "                minus = self.product([Num(-1), f.arg])\n                e = self.call(exp, minus)",
     "                minus = f.arg\n                e = self.call(exp, minus)"),
    ("exp(u)^j ./ (1 + exp(u))^k takes more exp factors than k", "calculus/simplify.py",
     "while j < k and e in num:", "while j <= k and e in num:"),
    ("entrywise: sigmoid(-v) = 1 + sigmoid(v)", "calculus/entrywise.py",
     "return _add(_const(1), _atom(atoms, S.call(sigmoid, v)), -1)",
     "return _add(_const(1), _atom(atoms, S.call(sigmoid, v)), 1)"),
    ("entrywise: 1 - sigmoid(u)^k = sigmoid(-u)", "calculus/entrywise.py",
     "if c == -1 and sum(m) == 1 and", "if c == -1 and"),
    ("entrywise: the common atom not divided out", "calculus/entrywise.py",
     "inner = {_norm(tuple(e - (common[i] if i < len(common) else 0) for i, e in enumerate(m))): c",
     "inner = {_norm(tuple(e for i, e in enumerate(m))): c"),
    ("entrywise: coefficients of like monomials not added", "calculus/entrywise.py",
     "        v = fold(\"+\", out.get(m, 0), fold(\"*\", scale, c))",
     "        v = fold(\"*\", scale, c)"),
    ("common scalar factor left inside too", "calculus/simplify.py",
     "            for f in shared:\n                left.remove(f)",
     "            for f in shared:\n                pass"),
    ("common scalar factor taken from one term only", "calculus/simplify.py",
     "if not isinstance(f, Num) and all(f in sc for sc, _ in split[1:])]",
     "if not isinstance(f, Num)]"),
    ("diag(u*v') = u.*u", "functions/reductions.py",
     "S.hadamard(Hadamard(chain[0], S.T(chain[1])))", "S.hadamard(Hadamard(chain[0], chain[0]))"),
    ("diag(P*Q) treated as an outer product", "functions/reductions.py",
     "if len(chain) == 2 and chain[0].is_vector and chain[1].shape[0].size() == 1:",
     "if len(chain) == 2:"),
    ("sqrt(tr(A'*B)) = norm_fro(B)", "functions/norms.py",
     "if f.is_scalar or S.T(f) != g:", "if f.is_scalar:"),
    ("entrywise sqrt of a matrix x*x' = its norm", "functions/norms.py",
     "    if not a.is_scalar:\n        return None\n    if getattr(a, \"fn\", None) is tr:",
     "    if getattr(a, \"fn\", None) is tr:"),
    ("like terms: the last coefficient wins", "calculus/simplify.py",
     "coefs[key] = fold(\"+\", coefs.get(key, 0), c)", "coefs[key] = c"),
    ("x ./ x = 1 drops only the denominator", "calculus/simplify.py",
     "            if x in num:\n                num.remove(x)\n                den.remove(x)",
     "            if x in num:\n                den.remove(x)"),
    ("diag(a)*diag(b) = diag(a.*a)", "calculus/simplify.py",
     "self.hadamard(Hadamard(out[-1].arg, f.arg))", "self.hadamard(Hadamard(out[-1].arg, out[-1].arg))"),
    ("a scalar run out of the chain loses its last factor", "calculus/simplify.py",
     "run = MatMul(tuple(chain[i:j + 1]))\n                    scal[run] = scal.get(run, 0) + 1\n"
     "                    return self._scalar_runs(chain[:i] + chain[j + 1:], scal)",
     "run = MatMul(tuple(chain[i:j + 1]))\n                    scal[run] = scal.get(run, 0) + 2\n"
     "                    return self._scalar_runs(chain[:i] + chain[j + 1:], scal)"),
    ("tr cyclic rotation reverses the rest", "functions/linalg.py",
     "return S.product(chain[i:] + chain[:i])", "return S.product(chain[i:] + chain[:i][::-1])"),
    ("exp(x)/sum(exp(x)) = softmax(x) without sum(exp(x)) below", "calculus/simplify.py",
     "key = self.call(sum_, f)\n                if scal.get(key, 0) <= -1:",
     "key = self.call(sum_, f)\n                if scal.get(key, 0) <= 0:"),
    ("inv(P*Q) split with the factors in their order", "calculus/simplify.py",
     "inverses = [self.call(fn, p) for p in reversed(m.factors)]",
     "inverses = [self.call(fn, p) for p in m.factors]"),
    ("inv(P*Q) split for factors not known to be square", "calculus/simplify.py",
     "if not (isinstance(m, MatMul) and all(not p.is_scalar and same_dim(p.shape[0], p.shape[1])",
     "if not (isinstance(m, MatMul) and all(not p.is_scalar"),
    ("adj(A)^j*A^k = det(A)^max(j, k)*...", "calculus/simplify.py",
     "            n = min(j, k)\n            key = self.call(det, m)",
     "            n = max(j, k)\n            key = self.call(det, m)"),
    ("adj(A)*B = det(A)*I for any B", "calculus/simplify.py",
     "    if isinstance(a, Call) and a.fn is adj and a.arg == b and not b.is_scalar:",
     "    if isinstance(a, Call) and a.fn is adj and not b.is_scalar:"),
    ("adj(A^k) = adj(A)^(k-1)", "functions/linalg.py",
     "return S.power(S.call(adj, a.base), a.exp)", "return S.power(S.call(adj, a.base), Num(a.exp.value - 1))"),
    ("A^-k = inv(A)^(k+1)", "calculus/simplify.py",
     "return inv_ if p.value == -1 else Power(inv_, Num(-p.value))",
     "return inv_ if p.value == -1 else Power(inv_, Num(1 - p.value))"),
]


def run_tests() -> bool:
    """True where the rewrite tests pass."""
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-p", "no:warnings",
           "tests/test_rewrites.py"]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True).returncode == 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-k", default="", help="only mutants whose name contains this text")
    args = ap.parse_args(argv)
    chosen = [m for m in MUTANTS if args.k in m[0]]
    if not run_tests():
        print("the rewrite tests fail without any mutant: fix them first")
        return 2
    survived = []
    for name, rel, old, new in chosen:
        path = SRC / rel
        source = path.read_text()
        if source.count(old) != 1:
            print(f"STALE   {name}: the rule's text is not found once in {rel}")
            survived.append(name)
            continue
        t0 = time.perf_counter()
        path.write_text(source.replace(old, new))
        try:
            killed = not run_tests()
        finally:
            path.write_text(source)
        print(f"{'killed ' if killed else 'SURVIVED'} {name}  ({rel}, {time.perf_counter() - t0:.1f} s)")
        if not killed:
            survived.append(name)
    print(f"{len(chosen) - len(survived)} of {len(chosen)} mutants killed")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
