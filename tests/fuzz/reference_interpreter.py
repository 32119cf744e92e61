# Vendored copy of shared/conformance/reference.py (the matdiff project's own independent reference
# interpreter, written from the language description alone; same project and MIT license as matdiff),
# copied here so that the reference-interpreter fuzz property (test_properties.py) runs in every
# checkout, whether or not ../shared sits beside it.  Depends only on NumPy and SciPy.  Do not edit
# here: change shared/conformance/reference.py and copy it again (the copy is verbatim below).
# ruff: noqa

"""Independent NumPy reference for the matdiff expression language.

Written from the language description alone: a small recursive-descent parser, an
interpreter that also runs on complex inputs (so the complex step works wherever the
expression is analytic), samplers for test points, and numerical derivatives:
complex step where analytic, else central differences with Richardson extrapolation.

Matrix functions (expm logm sqrtm, S^p for a non-integer p, eigmax eigmin eigvals,
logsumexp softmax relu softplus) are evaluated with SciPy.  expm, logsumexp, softmax
and softplus stay analytic (the complex step goes through them; expm's was checked
against its Frechet derivative); logm, sqrtm, S^p, the eigenvalue functions and relu
raise NotAnalytic on complex input, so derivatives through them use central
differences + Richardson.  On a 1x1 (scalar) argument expm/logm/sqrtm are exp/log/sqrt
and eigmax/eigmin/eigvals the identity, all analytic.

Values: floats for scalars, 1-D arrays for vectors, 2-D arrays for matrices.  Inside,
everything is a 2-D array and a scalar is 1x1 (as in MATLAB); `eye` is an identity of
undetermined size, times a coefficient, until an operand fixes its size.
"""
import re
import zlib

import numpy as np
import scipy.linalg
import scipy.special

FUNCS = frozenset("tr det logdet inv adj norm_fro norm2 norm_nuc norm1 sum diag "
                  "exp log sin cos tanh sqrt abs "
                  "expm logm sqrtm eigmax eigmin eigvals logsumexp softmax relu softplus".split())
SYMMETRIC = ("symmetric", "spd")
DEFAULT_N = 4


class RefError(ValueError):
    """An error of the reference; the subclasses mirror matdiff's by name."""


class ParseError(RefError):
    pass


class ShapeError(RefError):
    pass


class DomainError(RefError):
    pass


class NotAnalytic(Exception):
    """Complex input reached an operation this interpreter cannot extend analytically."""


# ------------------------------------------------------------------------- parsing
_TOKEN = re.compile(r"""(?P<num>\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)
                      |(?P<name>[A-Za-z][A-Za-z0-9_]*)
                      |(?P<op>\.\*|\./|\.\^|[-+*/^'()])""", re.X)
_SPACE = re.compile(r"[ \t\r\n]*")


def tokenize(text):
    if not isinstance(text, str):
        raise ParseError("the expression must be a string")
    toks, pos = [], _SPACE.match(text).end()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise ParseError(f"unexpected character {text[pos]!r} at {pos}")
        toks.append((m.lastgroup, m.group(), m.start()))
        pos = _SPACE.match(text, m.end()).end()
    toks.append(("end", "", len(text)))
    return toks


class _Parser:
    """sum: product ((+|-) product)*;  product: unary ((*|/|.*|./) unary)*;
    unary: - unary | + unary | postfix [(^|.^) unary];  postfix: primary "'"*."""

    def __init__(self, text):
        self.toks, self.i = tokenize(text), 0

    def at(self, *ops):
        kind, val, _ = self.toks[self.i]
        return kind == "op" and val in ops

    def take(self):
        self.i += 1
        return self.toks[self.i - 1][1]

    def fail(self, what):
        _, val, pos = self.toks[self.i]
        raise ParseError(f"{what} at {pos}, found {val or 'end of input'!r}")

    def expect(self, op):
        if not self.at(op):
            self.fail(f"expected {op!r}")
        self.take()

    def whole(self):
        node = self.sum()
        if self.toks[self.i][0] != "end":
            self.fail("expected an operator")
        return node

    def sum(self):
        node = self.product()
        while self.at("+", "-"):
            node = ("bin", self.take(), node, self.product())
        return node

    def product(self):
        node = self.unary()
        while self.at("*", "/", ".*", "./"):
            node = ("bin", self.take(), node, self.unary())
        return node

    def unary(self):
        if self.at("-"):
            self.take()
            return ("neg", self.unary())
        if self.at("+"):
            self.take()
            return self.unary()
        node = self.postfix()
        if self.at("^", ".^"):
            node = ("bin", self.take(), node, self.unary())
        return node

    def postfix(self):
        node = self.primary()
        while self.at("'"):
            self.take()
            node = ("T", node)
        return node

    def primary(self):
        kind, val, pos = self.toks[self.i]
        if kind == "num":
            self.take()
            return ("num", float(val))
        if kind == "name":
            self.take()
            if val in FUNCS:
                self.expect("(")
                arg = self.sum()
                self.expect(")")
                return ("call", val, arg)
            if self.at("("):
                raise ParseError(f"unknown function {val!r} at {pos}")
            return ("eye",) if val == "eye" else ("var", val)
        if self.at("("):
            self.take()
            node = self.sum()
            self.expect(")")
            return node
        self.fail("expected a number, a name or '('")


def parse(text):
    """The expression's tree of tuples; ParseError on bad input, however deep."""
    try:
        return _Parser(text).whole()
    except RecursionError:
        raise ParseError("expression nested too deeply") from None


def variables(tree):
    out, stack = set(), [tree]
    while stack:
        node = stack.pop()
        if node[0] == "var":
            out.add(node[1])
        elif node[0] in ("neg", "T"):
            stack.append(node[1])
        elif node[0] == "call":
            stack.append(node[2])
        elif node[0] == "bin":
            stack.extend(node[2:])
    return sorted(out)


# ---------------------------------------------------------------------- evaluation
class Eye:
    """The identity of whatever size fits, times the coefficient c."""

    def __init__(self, c=1.0):
        self.c = c

    def of(self, like):
        if like.shape[0] != like.shape[1] or like.shape == (1, 1):
            raise ShapeError(f"eye cannot take the size {like.shape[0]}x{like.shape[1]}")
        return self.c * np.eye(like.shape[0])


def _scalar(a):
    return a.shape == (1, 1)


def _vector(a):
    return 1 in a.shape and not _scalar(a)


def _square(a, f):
    if a.shape[0] != a.shape[1]:
        raise ShapeError(f"{f} needs a square matrix, got {a.shape[0]}x{a.shape[1]}")
    return a


def _same(op, a, b):
    if a.shape != b.shape and not (_scalar(a) or _scalar(b)):
        raise ShapeError(f"{op} of {a.shape[0]}x{a.shape[1]} and {b.shape[0]}x{b.shape[1]}")


def _nonzero(b):
    if np.any(b.real == 0):
        raise DomainError("division by zero")


def _positive(a, f):
    if np.any(a.real <= 0):
        raise DomainError(f"{f} needs positive entries")
    return a


def _sv(a):
    if np.iscomplexobj(a):
        raise NotAnalytic("singular values")
    return np.linalg.svd(a, compute_uv=False)


def _nonsingular(a, f):
    s = np.linalg.svd(_square(a, f).real, compute_uv=False)
    if not s[-1] > 1e-12 * s[0]:
        raise DomainError(f"{f} of a singular matrix")
    return a


def _ipow(z, n):
    """Integer power by repeated multiplication: exact for the complex step."""
    if n < 0:
        _nonzero(z)
        z, n = 1 / z, -n
    out = np.ones_like(z)
    while n:
        if n & 1:
            out = out * z
        z, n = z * z, n >> 1
    return out


def _is_int(p):
    return np.imag(p) == 0 and float(np.real(p)).is_integer()


def _power(op, a, b):
    if not _scalar(b):
        raise ShapeError(f"the exponent of {op} must be a scalar")
    p = b[0, 0]
    if op == "^" and not _scalar(a):
        if not _is_int(p):
            return _spd_power(a, p)
        if np.real(p) < 0:
            _nonsingular(a, "a negative power")
        return np.linalg.matrix_power(_square(a, "^"), int(np.real(p)))
    if _is_int(p):
        return _ipow(a, int(np.real(p)))
    return _positive(a, "a fractional power") ** p


def _eye_binary(op, a, b):
    ea, eb = isinstance(a, Eye), isinstance(b, Eye)
    if ea and eb and op in "+-*":
        return Eye({"+": a.c + b.c, "-": a.c - b.c, "*": a.c * b.c}[op])
    e, m = (a, b) if ea else (b, a)
    if op == "*" or (op == "/" and ea):
        if _scalar(m):
            return Eye(e.c * m[0, 0] if op == "*" else e.c / m[0, 0])
        if op == "*":
            return e.c * m
    if op in ("+", "-", ".*", "./") and not (ea and eb):
        return _binary(op, a.of(b) if ea else a, b.of(a) if eb else b)
    raise ShapeError(f"cannot size eye in {op}")


def _binary(op, a, b):
    if isinstance(a, Eye) or isinstance(b, Eye):
        return _eye_binary(op, a, b)
    if op in ("+", "-"):
        _same(op, a, b)
        return a + b if op == "+" else a - b
    if op == "*":
        if _scalar(a) or _scalar(b):
            return a * b
        if a.shape[1] != b.shape[0]:
            raise ShapeError(f"product of {a.shape[0]}x{a.shape[1]} and {b.shape[0]}x{b.shape[1]}")
        return a @ b
    if op == "/":
        if not _scalar(b):
            raise ShapeError("/ divides by a scalar only")
        _nonzero(b)
        return a / b
    if op in (".*", "./"):
        _same(op, a, b)
        if op == "./":
            _nonzero(b)
        return a * b if op == ".*" else a / b
    return _power(op, a, b)


def _logdet(a):
    r = _nonsingular(a, "logdet").real
    if np.array_equal(r, r.T):
        try:
            np.linalg.cholesky(r)
        except np.linalg.LinAlgError:
            raise DomainError("logdet of a symmetric matrix that is not positive definite") from None
    elif np.linalg.slogdet(r)[0] <= 0:
        raise DomainError("logdet of a matrix with a non-positive determinant")
    sign, logabs = np.linalg.slogdet(a)
    return (np.log(sign) + logabs).reshape(1, 1)          # log det, analytic in a


def _adj(a):
    """Adjugate by cofactors: exact at singular matrices and analytic for the complex step."""
    n = _square(a, "adj").shape[0]
    if n == 1:
        return np.ones_like(a)
    cof = np.empty_like(a)
    for i in range(n):
        for j in range(n):
            minor = np.delete(np.delete(a, i, 0), j, 1)
            cof[i, j] = (-1) ** (i + j) * np.linalg.det(minor)
    return cof.T


def _norm_fro(a):
    if not np.any(a.real):
        raise DomainError("a norm is not differentiable at zero")
    return np.sqrt(np.sum(a * a)).reshape(1, 1)           # no conjugate: analytic


def _norm2(a):
    if _vector(a) or _scalar(a):
        return _norm_fro(a)
    s = _sv(a)
    if not s[0] > 0 or (len(s) > 1 and s[0] - s[1] <= 1e-8 * s[0]):
        raise DomainError("norm2 with a repeated largest singular value")
    return s[:1].reshape(1, 1)


def _norm_nuc(a):
    if _vector(a) or _scalar(a):
        return _norm_fro(a)
    s = _sv(a)
    if not s[-1] > 1e-10 * s[0]:
        raise DomainError("norm_nuc is not differentiable at a rank-deficient matrix")
    return np.sum(s).reshape(1, 1)


def _abs(a):
    if np.any(a.real == 0):
        raise DomainError("abs is not differentiable at 0")
    return a * np.sign(a.real)                            # analytic where real part != 0


def _diag(a):
    if _vector(a):
        return np.diag(a.ravel())
    return np.diag(_square(a, "diag")).reshape(-1, 1)


# --------------------------------------------------------------- matrix functions
def _real_only(a, f):
    if np.iscomplexobj(a):
        raise NotAnalytic(f)
    return a


def _symmetric(a, f):
    """The symmetric part of a (real) matrix that is symmetric up to rounding; a
    matrix that is not symmetric is a ShapeError (symmetric by type or structure)."""
    _square(_real_only(a, f), f)
    scale = float(np.max(np.abs(a))) if a.size else 0.0
    if not np.max(np.abs(a - a.T), initial=0.0) <= 1e-10 * scale:
        raise ShapeError(f"{f} needs a symmetric matrix")
    return (a + a.T) / 2


def _eigh(a, f):
    return np.linalg.eigh(_symmetric(a, f))


def _spd_power(a, p):
    """S^p, p not an integer: U diag(w^p) U' for a symmetric positive definite S."""
    f = "a fractional matrix power"
    if np.iscomplexobj(a) or np.iscomplexobj(p):
        raise NotAnalytic(f)
    w, u = _eigh(a, f)
    if not w[0] > 1e-12 * max(abs(w[-1]), 1e-300):
        raise DomainError(f"{f} needs a positive definite matrix")
    return (u * w ** float(np.real(p))) @ u.T


def _off_negative_axis(a, f):
    """DomainError where a has an eigenvalue on the closed negative real axis (0 included)."""
    _nonsingular(a, f)
    ev = np.linalg.eigvals(a)
    tol = 1e-10 * float(np.max(np.abs(ev)))
    if np.any((np.abs(ev.imag) <= tol) & (ev.real <= tol)):
        raise DomainError(f"{f} of a matrix with an eigenvalue on the closed negative real axis")
    return a


def _real_result(out, f):
    out = np.asarray(out)
    if np.iscomplexobj(out):
        if not np.max(np.abs(out.imag), initial=0.0) <= 1e-10 * max(np.max(np.abs(out.real)), 1e-300):
            raise DomainError(f"{f} is not real here")
        out = out.real
    if not np.all(np.isfinite(out)):
        raise DomainError(f"{f} is not finite here")
    return out


def _expm(a):
    if _scalar(_square(a, "expm")):
        return np.exp(a)
    return scipy.linalg.expm(a)                           # Pade + squaring: analytic (checked)


def _logm(a):
    """Principal logarithm: U diag(log w) U' for an (exactly) symmetric matrix; else
    inverse scaling and squaring, log A = 2^k log Z with Z = A^(1/2^k) (SciPy's sqrtm)
    within 0.25 of I, and log Z = 2 atanh(W), W = (Z - I)(Z + I)^-1, by its series.
    (scipy.linalg.logm itself makes hundreds of small BLAS calls: 2 ms a call on an idle
    2-core machine, 50 ms on a loaded one, too slow for the differences of a 4x4 gradient.)"""
    if _scalar(_square(a, "logm")):
        return np.log(_positive(a, "logm"))
    _off_negative_axis(_real_only(a, "logm"), "logm")
    if np.array_equal(a, a.T):
        w, u = np.linalg.eigh(a)
        return (u * np.log(w)) @ u.T
    eye, z, k = np.eye(a.shape[0]), a, 0
    while np.linalg.norm(z - eye, 1) > 0.25:
        z, k = _real_result(scipy.linalg.sqrtm(z), "logm"), k + 1
        if k > 64:
            raise DomainError("logm: the square roots do not approach the identity")
    w = np.linalg.solve(z + eye, z - eye)                 # commutes with Z: either order
    w2, term, total = w @ w, w, w.copy()
    for j in range(3, 200, 2):
        term = term @ w2
        total += term / j
        if np.max(np.abs(term)) <= 1e-18 * np.max(np.abs(total)):
            break
    return 2.0 ** (k + 1) * total


def _sqrtm(a):
    if _scalar(_square(a, "sqrtm")):
        return np.sqrt(_positive(a, "sqrtm"))
    _off_negative_axis(_real_only(a, "sqrtm"), "sqrtm")
    return _real_result(scipy.linalg.sqrtm(a), "sqrtm")


def _eigvals(a):
    if _scalar(_square(a, "eigvals")):
        return a.copy()
    w = _eigh(a, "eigvals")[0]
    if np.min(np.diff(w)) <= 1e-8 * max(abs(w[0]), abs(w[-1])):
        raise DomainError("eigvals with a repeated eigenvalue")
    return w.reshape(-1, 1)


def _eig_end(a, f, top):
    if _scalar(_square(a, f)):
        return a.copy()
    w = _eigh(a, f)[0]
    gap = w[-1] - w[-2] if top else w[1] - w[0]
    if gap <= 1e-8 * max(abs(w[0]), abs(w[-1])):
        raise DomainError(f"{f} with a repeated {'largest' if top else 'smallest'} eigenvalue")
    return w[-1 if top else 0].reshape(1, 1)


def _logsumexp(a):
    if np.iscomplexobj(a):                                # the same formula, analytic
        m = float(np.max(a.real))
        return (m + np.log(np.sum(np.exp(a - m)))).reshape(1, 1)
    return np.array([[scipy.special.logsumexp(a)]])


def _softmax(a):
    if not (_vector(a) or _scalar(a)):
        raise ShapeError(f"softmax needs a vector, got {a.shape[0]}x{a.shape[1]}")
    if np.iscomplexobj(a):
        e = np.exp(a - float(np.max(a.real)))
        return e / np.sum(e)
    return scipy.special.softmax(a)                       # over all entries


def _relu(a):
    if np.any(_real_only(a, "relu") == 0):
        raise DomainError("relu is not differentiable at 0")
    return np.maximum(a, 0.0)


def _softplus(a):
    if not np.iscomplexobj(a):
        return np.logaddexp(0.0, a)
    out, pos = np.empty_like(a), a.real > 0               # log(1 + e^a), analytic both ways
    out[pos] = a[pos] + np.log1p(np.exp(-a[pos]))
    out[~pos] = np.log1p(np.exp(a[~pos]))
    return out


_FUNCTIONS = {
    "tr": lambda a: np.trace(_square(a, "tr")).reshape(1, 1),
    "det": lambda a: np.linalg.det(_square(a, "det")).reshape(1, 1),
    "logdet": _logdet,
    "inv": lambda a: np.linalg.inv(_nonsingular(a, "inv")),
    "adj": _adj,
    "norm_fro": _norm_fro,
    "norm2": _norm2,
    "norm_nuc": _norm_nuc,
    "norm1": lambda a: np.sum(_abs(a)).reshape(1, 1),
    "sum": lambda a: np.sum(a).reshape(1, 1),
    "diag": _diag,
    "exp": np.exp,
    "log": lambda a: np.log(_positive(a, "log")),
    "sin": np.sin,
    "cos": np.cos,
    "tanh": np.tanh,
    "sqrt": lambda a: np.sqrt(_positive(a, "sqrt")),
    "abs": _abs,
    "expm": _expm,
    "logm": _logm,
    "sqrtm": _sqrtm,
    "eigmax": lambda a: _eig_end(a, "eigmax", True),
    "eigmin": lambda a: _eig_end(a, "eigmin", False),
    "eigvals": _eigvals,
    "logsumexp": _logsumexp,
    "softmax": _softmax,
    "relu": _relu,
    "softplus": _softplus,
}


def _ev(node, env):
    tag = node[0]
    if tag == "num":
        return np.array([[node[1]]])
    if tag == "var":
        if node[1] not in env:
            raise RefError(f"no value for {node[1]}")
        return env[node[1]]
    if tag == "eye":
        return Eye()
    if tag == "neg":
        a = _ev(node[1], env)
        return Eye(-a.c) if isinstance(a, Eye) else -a
    if tag == "T":
        a = _ev(node[1], env)
        return a if isinstance(a, Eye) else a.T            # plain transpose, never conjugate
    if tag == "call":
        a = _ev(node[2], env)
        if isinstance(a, Eye):
            raise ShapeError(f"cannot size eye inside {node[1]}")
        return _FUNCTIONS[node[1]](a)
    return _binary(node[1], _ev(node[2], env), _ev(node[3], env))


def internal(value):
    a = np.asarray(value)
    a = a if a.dtype.kind in "fc" else a.astype(float)
    return a.reshape(1, 1) if a.ndim == 0 else a.reshape(-1, 1) if a.ndim == 1 else a


def evaluate(expr, values):
    """Value of expr (text or tree): a scalar, a 1-D array (vector) or a 2-D array."""
    tree = parse(expr) if isinstance(expr, str) else expr
    env = {k: internal(v) for k, v in values.items()}
    with np.errstate(all="ignore"):
        out = _ev(tree, env)
    if isinstance(out, Eye):
        raise ShapeError("the size of eye is not determined")
    return out[0, 0] if _scalar(out) else out[:, 0] if out.shape[1] == 1 else out


# ------------------------------------------------------------------ types and points
def kind_of(name, types=None):
    t = (types or {}).get(name)
    if t:
        return t.split("(")[0].strip()
    c = name[0]
    return "scalar" if "a" <= c <= "g" else "vector" if "h" <= c <= "z" else "matrix"


def shape_of(name, case):
    kind = kind_of(name, case.get("types"))
    if kind == "scalar":
        return ()
    size = (case.get("sizes") or {}).get(name)
    if size is None:
        m = re.search(r"\(([^)]*)\)", (case.get("types") or {}).get(name, ""))
        size = tuple(int(s) for s in m.group(1).split(",")) if m else DEFAULT_N
    size = (size,) if isinstance(size, int) else tuple(size)
    return size[:1] if kind == "vector" else size * 2 if len(size) == 1 else size


def _orth(m, k, rng):
    return np.linalg.qr(rng.standard_normal((m, k)))[0]


def _spread(k, rng):
    """k distinct magnitudes in [0.6, 0.8 + 0.4 (k - 1)], gaps at least 0.2."""
    return 0.6 + 0.4 * np.arange(k) + 0.2 * rng.random(k)


def _exact_rank(m, n, k, rng):
    """An integer matrix (halved, still exact in binary) of rank exactly k."""
    while True:
        a = rng.integers(-2, 3, (m, k)) @ rng.integers(-2, 3, (k, n))
        s = np.linalg.svd(a, compute_uv=False)
        if s[k - 1] > 0.5 and (k == min(m, n) or s[k] < 1e-9):
            return a / 2.0


def _real_eigen(n, rng):
    """A = P D P^-1 with P unimodular and D distinct integers: exact integer entries."""
    low = np.tril(rng.integers(-1, 2, (n, n)), -1) + np.eye(n, dtype=int)
    up = np.triu(rng.integers(-1, 2, (n, n)), 1) + np.eye(n, dtype=int)
    p = low @ up
    pinv = np.rint(np.linalg.inv(p)).astype(int)
    assert (p @ pinv == np.eye(n, dtype=int)).all()
    d = rng.choice(np.arange(-4, 5), n, replace=False)
    return (p @ np.diag(d) @ pinv).astype(float), np.sort(d).astype(float)


def _matrix(hint, m, n, rng, name, eigs):
    sq = m == n
    if hint in (None, "generic"):
        k = min(m, n)
        return _orth(m, k, rng) @ np.diag(_spread(k, rng)) @ _orth(n, k, rng).T
    if hint == "pos":
        return rng.uniform(0.5, 2.0, (m, n))
    if hint == "int":
        return rng.integers(-3, 4, (m, n)).astype(float)
    if hint == "zero":
        return np.zeros((m, n))
    if hint.startswith("rank:"):
        return _exact_rank(m, n, int(hint[5:]), rng)
    assert sq, f"point hint {hint!r} needs a square matrix"
    if hint == "spd":                                     # B B' + n I, scaled
        b = rng.standard_normal((n, n))
        return (b @ b.T + n * np.eye(n)) / n
    if hint == "sym":                                     # indefinite, distinct |eigenvalues|
        q = _orth(n, n, rng)
        return q @ np.diag(_spread(n, rng) * rng.choice([-1, 1], n)) @ q.T
    if hint == "indef":                                   # two negative eigenvalues: det > 0
        q = _orth(n, n, rng)
        lam = np.concatenate([[-1.3, -0.7], _spread(n - 2, rng)])
        return q @ np.diag(lam) @ q.T
    if hint == "pd":                                      # not symmetric, A + A' positive definite
        while True:
            a = 1.5 * np.eye(n) + 0.4 * rng.standard_normal((n, n)) / np.sqrt(n)
            if np.linalg.eigvalsh(a + a.T).min() > 0.5:
                return a
    if hint == "singular":
        return _exact_rank(n, n, n - 1, rng)
    if hint == "realeig":
        a, eigs[name] = _real_eigen(n, rng)
        return a
    if hint in ("distinct_eig", "spd_distinct"):          # exactly symmetric, eigenvalue gaps >= 0.2
        q = _orth(n, n, rng)
        lam = _spread(n, rng) * (rng.choice([-1, 1], n) if hint == "distinct_eig" else 1)
        a = q @ np.diag(lam) @ q.T
        return (a + a.T) / 2
    if hint == "near_identity":                           # I + E, ||E||_2 < 0.5: eigenvalues near 1
        e = rng.standard_normal((n, n))
        return np.eye(n) + 0.45 * e / np.linalg.norm(e, 2)
    if hint == "posreal_eig":                             # not normal, eigenvalues in Re > 0.5:
        p = np.eye(n) + 0.4 * rng.standard_normal((n, n)) / np.sqrt(n)
        d = np.diag(_spread(n, rng))                      # a complex pair and distinct reals
        if n >= 2:
            re, im = rng.uniform(0.8, 1.5), rng.uniform(0.3, 0.8)
            d[:2, :2] = [[re, im], [-im, re]]
        return p @ d @ np.linalg.inv(p)
    raise ValueError(f"unknown point hint {hint!r}")


def _draw(hint, shape, rng, eigs, name):
    if hint is not None and not isinstance(hint, str):    # a literal value, as given
        v = np.array(hint, dtype=float)
        return float(v) if v.ndim == 0 else v
    if shape == ():
        if hint and hint.startswith("eig:"):
            _, src, *k = hint.split(":")
            ev = eigs[src]
            return float(ev[int(k[0]) if k else len(ev) // 2])
        return float(rng.uniform(0.5, 1.5))
    if len(shape) == 1:
        n = shape[0]
        if hint == "pos":
            return rng.uniform(0.5, 2.0, n)
        if hint == "pm1":
            return rng.choice([-1.0, 1.0], n)
        if hint == "zero":
            return np.zeros(n)
        assert hint is None, f"unknown vector hint {hint!r}"
        return rng.standard_normal(n)
    return _matrix(hint, shape[0], shape[1], rng, name, eigs)


def sample(case):
    """The case's test point: seeded by its id, shaped by sizes/types, shaped by hints."""
    rng = np.random.default_rng(zlib.crc32(case["id"].encode()))
    hints, types, eigs, vals = case.get("point") or {}, case.get("types") or {}, {}, {}
    names = variables(parse(case["expr"]))
    late = [n for n in names if isinstance(hints.get(n), str) and hints[n].startswith("eig:")]
    for name in [n for n in names if n not in late] + late:
        kind = kind_of(name, types)
        hint = hints.get(name, {"spd": "spd", "symmetric": "sym"}.get(kind))
        vals[name] = _draw(hint, shape_of(name, case), rng, eigs, name)
    return vals


def direction(kind, shape, rng):
    """A random direction in the variable's space (symmetric for symmetric variables)."""
    if shape == ():
        return float(rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 1.5))
    v = rng.standard_normal(shape)
    return (v + v.T) / 2 if kind in SYMMETRIC else v


# ------------------------------------------------------------------------ derivatives
def func(expr, values, wrt):
    """x -> expr evaluated with wrt = x and the other values fixed."""
    tree = parse(expr) if isinstance(expr, str) else expr

    def f(x):
        env = dict(values)
        env[wrt] = x
        return evaluate(tree, env)
    return f


def _rms(a):
    return float(np.sqrt(np.mean(np.square(a))))


def richardson(d, h, levels=5):
    """Neville table on d(h), d(h/2), ... for an error expansion in even powers of h;
    returns the diagonal entry whose change from the previous one is smallest."""
    rows, best, err = [], None, np.inf
    for k in range(levels):
        row = [np.asarray(d(h / 2 ** k), dtype=float)]
        for j in range(1, k + 1):
            row.append(row[j - 1] + (row[j - 1] - rows[k - 1][j - 1]) / (4 ** j - 1))
        if k:
            e = float(np.max(np.abs(row[k] - rows[k - 1][k - 1])))
            if e < err:
                best, err = row[k], e
        rows.append(row)
    return best


def directional(f, x, v):
    """(d/dt f(x + t v) at t = 0, method): complex step where f is analytic, else
    central differences with Richardson extrapolation; f may be array-valued."""
    x, v = np.asarray(x, dtype=float), np.asarray(v, dtype=float)
    h = 1e-20 / max(_rms(v), 1e-300)
    try:
        return np.imag(np.asarray(f(x + 1j * h * v))) / h, "complex step"
    except NotAnalytic:
        pass
    s = 5e-3 * max(_rms(x), 0.1) / _rms(v)
    return richardson(lambda t: (np.asarray(f(x + t * v)) - np.asarray(f(x - t * v))) / (2 * t), s), \
        "central differences + Richardson"


def basis(kind, shape):
    """(index, direction, weight): the gradient's entry at index is weight * f'(direction)."""
    if shape == ():
        yield (), np.array(1.0), 1.0
        return
    for idx in np.ndindex(*shape):
        if kind in SYMMETRIC and idx[0] > idx[1]:
            continue
        e = np.zeros(shape)
        e[idx] = 1.0
        if kind in SYMMETRIC:
            e[idx[::-1]] = 1.0
        yield idx, e, 1.0 if len(idx) < 2 or idx[0] == idx[1] else (0.5 if kind in SYMMETRIC else 1.0)


def gradient(f, x, kind):
    """The gradient of scalar f at x; for symmetric kinds the representer on the
    space of symmetric matrices, i.e. sym(G), from symmetric directions only."""
    x = np.asarray(x, dtype=float)
    g = np.zeros(x.shape)
    for idx, e, w in basis(kind, x.shape):
        g[idx] = w * float(directional(f, x, e)[0])
        if kind in SYMMETRIC:
            g[idx[::-1]] = g[idx]
    return g


def hvp(f, x, kind, v):
    """Hessian-vector product: Richardson on central differences of the gradient."""
    x, v = np.asarray(x, dtype=float), np.asarray(v, dtype=float)
    s = 5e-3 * max(_rms(x), 0.1) / _rms(v)
    return richardson(lambda t: (gradient(f, x + t * v, kind) - gradient(f, x - t * v, kind)) / (2 * t),
                      s, levels=4)
