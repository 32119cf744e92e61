#!/usr/bin/env python
"""Fuzz matdiff's parser and API with random text: only MatdiffError subclasses may escape.

Each input goes through ``matdiff.parse``; where it parses (and is not longer than ``--grad-max-len``)
also through ``matdiff.grad(text, wrt)`` for a variable of the text (now and then a name that is
not one), the printed gradient back through ``matdiff.parse``, and, for one input in
``--eval-every``, ``r.evaluate`` at a random point (sizes 3).  Any other exception (RecursionError,
IndexError, KeyError, TypeError, ...), an input that takes longer than ``--timeout`` seconds (a
SIGALRM in the worker), or a worker that dies is a failure.

Inputs, drawn reproducibly from ``--seed`` (input i of chunk c is fixed by (seed, c, i)):

* ``alphabet``: random strings over the language's characters and tokens (names, function
  names, numbers, operators, parentheses, quotes, blanks) plus some that are not in it;
* ``mutated``: random valid expressions (a small grammar) with characters or tokens deleted,
  inserted, replaced, duplicated or swapped;
* ``bytes``: random bytes decoded as UTF-8 (with replacement) or Latin-1;
* ``pathological``: deep nesting and long chains around the limits (MAX_DEPTH, MAX_LENGTH),
  many transposes or unary minuses, long products, huge and tiny numbers, long names.

Prints the inputs run, the outcomes by exception class, the slowest input and its time, and every
failure with its (chunk, index) and the command that replays it.  Exit status 1 if anything
escaped.

    PYTHONPATH=src python scripts/fuzz_parser.py --n 1000000 --jobs 2
    PYTHONPATH=src python scripts/fuzz_parser.py --replay 17:342 --seed 0
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import time
import traceback
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(os.path.dirname(HERE), "src")
if os.path.isdir(SRC) and SRC not in sys.path:
    sys.path.insert(0, SRC)

import numpy as np  # noqa: E402

import matdiff  # noqa: E402

FUNCS = "tr det logdet inv adj norm_fro norm2 norm_nuc norm1 sum diag exp log sin cos tanh sqrt abs".split()
EXTRA_FUNCS = ["sign", "polar", "top_sv", "ones", "eye", "adj_d"]
OPS = ["+", "-", "*", "/", ".*", "./", "^", ".^", "'"]
NAMES = list("abcdefghxyzuvwABCDSTXYZ") + ["lam", "X1", "x_2", "Sigma", "mu", "eye", "ones", "e", "pi"]
# names that look like what generated code uses for itself (temporaries, Python keywords and their escaped
# forms, NumPy-ish names; "_t0" is not a legal name): these found bugs in the code generator
ODD_NAMES = ["t0", "t1", "t12", "_t0", "lambda", "lambda_", "lambda__", "in", "in_", "is", "if", "for", "class",
             "def", "True", "None", "False", "np", "sum_", "T", "shape", "self", "values", "out", "grad_x"]
NUMBERS = ["0", "1", "2", "0.5", ".5", "1e3", "1e-3", "2.5E+2", "1e400", "1e-400", "99999999999999999999",
           "0.0", "3.", "1e", "007", "1.2.3", "1e99999"]
ALPHABET_TOKENS = (FUNCS + EXTRA_FUNCS + OPS + NAMES + ODD_NAMES + NUMBERS
                   + ["(", ")", "(", ")", ",", " ", " ", "  ", "\t", "\n"])
OTHER_CHARS = list("[]{},;:!@#$%&|~`\"?<>=\\_.") + ["\x00", "\u2032", "\u00b7", "\u2212", "\u03bb", "\ufeff",
                                                       "\u200b", "é", "∑", "𝑥"]
MAX_DEPTH = 200
MAX_LENGTH = 20_000


class Timeout(BaseException):
    """Raised by SIGALRM in a worker (a BaseException, so no except Exception in matdiff eats it)."""


def _on_alarm(signum: int, frame: Any) -> None:
    raise Timeout()


# ------------------------------------------------------------------------------------ inputs


def valid_expr(rng: random.Random, depth: int) -> str:
    """A random syntactically valid expression (not necessarily well typed)."""
    if depth <= 0 or rng.random() < 0.25:
        r = rng.random()
        if r < 0.5:
            return rng.choice(NAMES[:23])
        if r < 0.6:
            return rng.choice(ODD_NAMES)
        if r < 0.9:
            return rng.choice(["1", "2", "0.5", "3", "10", ".5", "1e-3"])
        return "eye"
    k = rng.random()
    if k < 0.35:
        return f"{valid_expr(rng, depth - 1)} {rng.choice(OPS[:6])} {valid_expr(rng, depth - 1)}"
    if k < 0.6:
        return f"{rng.choice(FUNCS)}({valid_expr(rng, depth - 1)})"
    if k < 0.7:
        return f"({valid_expr(rng, depth - 1)})'"
    if k < 0.8:
        return f"({valid_expr(rng, depth - 1)}){rng.choice(['^', '.^'])}{rng.choice(['2', '-1', '0.5', 'a', '3'])}"
    if k < 0.9:
        return f"-{valid_expr(rng, depth - 1)}"
    return f"({valid_expr(rng, depth - 1)})"


def from_alphabet(rng: random.Random) -> str:
    n = rng.choice([1, 2, 3, 5, 8, 13, 20, 40, 80])
    out = []
    for _ in range(n):
        out.append(rng.choice(OTHER_CHARS) if rng.random() < 0.05 else rng.choice(ALPHABET_TOKENS))
    sep = rng.choice(["", "", " "])
    return sep.join(out)


def mutate(rng: random.Random, text: str) -> str:
    for _ in range(rng.choice([1, 1, 1, 2, 3, 5])):
        if not text:
            text = rng.choice(ALPHABET_TOKENS)
        i = rng.randrange(len(text) + 1)
        j = min(len(text), i + rng.choice([1, 1, 2, 3, 8]))
        op = rng.random()
        if op < 0.25:  # delete
            text = text[:i] + text[j:]
        elif op < 0.5:  # insert a token
            text = text[:i] + rng.choice(ALPHABET_TOKENS + OTHER_CHARS) + text[i:]
        elif op < 0.65:  # replace a character
            text = text[:i] + rng.choice(ALPHABET_TOKENS) + text[i + 1:]
        elif op < 0.8:  # duplicate a slice
            text = text[:j] + text[i:j] + text[j:]
        elif op < 0.9:  # reverse a slice, or rotate the text around it
            a, b = sorted((i, rng.randrange(len(text) + 1)))
            if rng.random() < 0.3:
                text = text[:a] + text[a:b][::-1] + text[b:]
            else:
                text = text[b:] + text[a:b] + text[:a]
        else:  # truncate
            text = text[:i]
    return text


def from_bytes(rng: random.Random) -> str:
    raw = bytes(rng.randrange(256) for _ in range(rng.choice([1, 4, 16, 64])))
    return raw.decode("utf-8", errors="replace") if rng.random() < 0.5 else raw.decode("latin-1")


def pathological(rng: random.Random) -> str:
    kind = rng.randrange(12)
    d = rng.choice([MAX_DEPTH - 2, MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, MAX_DEPTH + 5, 2 * MAX_DEPTH,
                    rng.randrange(1, 3 * MAX_DEPTH), 1000, 5000])
    v = rng.choice(["x", "X", "a", "A", "S"])
    if kind == 0:
        return "(" * d + v + ")" * d
    if kind == 1:
        fn = rng.choice(FUNCS)
        return f"{fn}(" * d + v + ")" * d
    if kind == 2:
        return v + "'" * d
    if kind == 3:
        return "-" * d + v
    if kind == 4:
        return "*".join([v] * d)
    if kind == 5:
        return " + ".join(f"{v}^{rng.randrange(5)}" for _ in range(d))
    if kind == 6:
        return f"{v}^" * d + "2"
    if kind == 7:  # near MAX_LENGTH
        n = rng.choice([MAX_LENGTH - 1, MAX_LENGTH, MAX_LENGTH + 1, 10 * MAX_LENGTH])
        return ("x+" * (n // 2 + 1))[:n - 1] + "x"
    if kind == 8:
        return rng.choice(["1e" + "9" * rng.randrange(1, 400), "0." + "0" * 500 + "1", "9" * 5000, "x" * 3000,
                           "x" + "_" * 1000, "1" + "0" * 400 + " * x"])
    if kind == 9:
        return "(" * d + v
    if kind == 10:
        return v + ")" * d
    return "tr(" + "inv(" * (d // 4) + "A" + ")" * (d // 4) + ")"


def make_input(seed: int, chunk: int, index: int) -> tuple[str, str]:
    rng = random.Random(f"{seed}:{chunk}:{index}")
    r = rng.random()
    if r < 0.35:
        return "alphabet", from_alphabet(rng)
    if r < 0.75:
        return "mutated", mutate(rng, valid_expr(rng, rng.randrange(1, 6)))
    if r < 0.85:
        return "valid", valid_expr(rng, rng.randrange(1, 7))
    if r < 0.95:
        return "bytes", from_bytes(rng)
    return "pathological", pathological(rng)


# ------------------------------------------------------------------------------------ one input


#: how the values of one input are given: float64, int64 (small, or of scale 3e9 whose cube overflows
#: int64), bool, float32, or float64 at an extreme scale (1e+-150 ... 1e+-300)
STYLES = ["float64", "float64", "int64", "bigint", "bool", "float32", "scale"]


def random_value(rng: np.random.Generator, var: Any, style: str = "float64", scale: float = 1.0) -> Any:
    if var.is_scalar:
        a = np.asarray(rng.standard_normal())
    elif var.is_vector:
        a = rng.standard_normal(3)
    else:
        a = rng.standard_normal((3, 3))
        if var.kind in ("symmetric", "spd", "diagonal"):
            a = a @ a.T + np.eye(3) if var.kind == "spd" else (a + a.T) / 2
            if var.kind == "diagonal":
                a = np.diag(np.diag(a))
    if style in ("int64", "bigint"):
        a = np.rint(2 * a).astype(np.int64) * (3_000_000_000 if style == "bigint" else 1)
    elif style == "bool":
        a = a > 0
    elif style == "float32":
        a = a.astype(np.float32)
    elif style == "scale":
        a = a * scale
    return a[()] if a.ndim == 0 else a


def agree(a: Any, b: Any, floor: float = 0.0) -> bool:
    """Two answers of the same computation agree: the same numbers (float64, to 1e-7 of their scale or the
    rounding floor given), or both a MatdiffError."""
    if isinstance(a, matdiff.MatdiffError) or isinstance(b, matdiff.MatdiffError):
        return isinstance(a, matdiff.MatdiffError) and isinstance(b, matdiff.MatdiffError)
    x, y = np.asarray(a), np.asarray(b)
    if x.shape != y.shape or x.dtype != np.float64 or y.dtype != np.float64:
        return False
    scale = max(float(np.max(np.abs(x), initial=0.0)), float(np.max(np.abs(y), initial=0.0)))
    return bool(np.all(np.abs(x - y) <= 1e-7 * scale + floor))


def rounding_noise(r: Any, values: dict[str, Any], got: Any) -> float:
    """How far the interpreter's answer moves when every value moves by ~1e-13 of itself: the rounding noise of
    an answer that is all cancellation (3*f^2/f^3 - 3*f^3/f^4 = 0 up to it), which two orders of computation
    may round differently."""
    rng = np.random.default_rng(0)
    moved = {n: np.asarray(v, dtype=float) * (1 + 1e-13 * rng.standard_normal(np.shape(v))) for n, v in values.items()}
    moved = {n: float(v) if np.ndim(v) == 0 else v for n, v in moved.items()}
    try:
        again = r.evaluate(moved)
    except (matdiff.MatdiffError, FloatingPointError):
        return 0.0
    return 10 * float(np.max(np.abs(np.asarray(again) - np.asarray(got)), initial=0.0))


def range_lost(r: Any, values: dict[str, Any]) -> bool:
    """Whether computing the gradient at these values (1e+-150..300) under- or overflows on the way.

    There the interpreter and the generated code, which order products differently, may each lose a different
    partial product (A'*A' ~ 1e600 in one, inv(A)'*A' ~ 1 in the other): they are compared only where neither
    leaves float64's range (IEEE's flags say so). matdiff's own forms at those scales are tested in
    tests/test_extreme_scales.py; this is the class of the open known bugs on partial products."""
    with np.errstate(all="raise"):
        for run in (lambda: r.evaluate(values), lambda: r.compile()(**values)):
            try:
                run()
            except FloatingPointError:
                return True
            except matdiff.MatdiffError:
                pass
    return False


def underflow_or_refusal(a: Any, b: Any) -> bool:
    """One refuses (DomainError) and the other answers 0 throughout: an answer below float64's range (the
    gradient of norm2(D)^-0.5 at D ~ 1e300 is ~1e-450), which either way is as much as float64 can say."""
    def tiny(v: Any) -> bool:
        return not isinstance(v, BaseException) and float(np.max(np.abs(np.asarray(v)), initial=0.0)) < 2.0**-960
    return (isinstance(a, matdiff.DomainError) and tiny(b)) or (isinstance(b, matdiff.DomainError) and tiny(a))


def answer(fn: Any) -> Any:
    try:
        return fn()
    except matdiff.MatdiffError as e:
        return e


def run_one(text: str, rng: random.Random, grad_max_len: int, evaluate: bool) -> str:
    """Run one input; returns the outcome: 'ok', 'grad ok', or the MatdiffError class name."""
    try:
        tree = matdiff.parse(text)
    except matdiff.MatdiffError as e:
        return f"parse: {type(e).__name__}"
    if len(text) > grad_max_len:
        return "parsed (too long for grad)"
    try:
        from matdiff.frontend import typed

        _, vs = typed(tree)
        names = list(vs)
        if not names or rng.random() < 0.05:
            wrt = rng.choice(["x", "X", "zz", "a"])
        else:
            wrt = rng.choice(names)
        r = matdiff.grad(text, wrt)
        matdiff.parse(str(r.gradient))
        if evaluate:
            nrng = np.random.default_rng(rng.randrange(2**32))
            style = rng.choice(STYLES)
            scale = 10.0 ** (rng.choice([-1, 1]) * rng.choice([150, 200, 250, 300]))
            values = {n: random_value(nrng, v, style, scale) for n, v in r.variables.items()}
            got = answer(lambda: r.evaluate(values))
            compiled = answer(lambda: r.compile()(**values))  # the same numbers, or both refuse
            if not agree(got, compiled) and not (style == "scale" and (range_lost(r, values) or
                                                                  underflow_or_refusal(got, compiled))) and \
                    not (not isinstance(got, BaseException) and agree(got, compiled, rounding_noise(r, values, got))):
                raise AssertionError(f"r.compile() and r.evaluate disagree at {style} values: "
                                     f"{compiled!r} vs {got!r}")
            return "grad + evaluate ok"
        return "grad ok"
    except matdiff.MatdiffError as e:
        return f"grad: {type(e).__name__}"


def run_chunk(seed: int, chunk: int, size: int, timeout: float, grad_max_len: int, eval_every: int
              ) -> dict[str, Any]:
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 1000))
    signal.signal(signal.SIGALRM, _on_alarm)
    outcomes: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    failures: list[dict[str, Any]] = []
    slowest = (0.0, "", -1)
    for i in range(size):
        kind, text = make_input(seed, chunk, i)
        kinds[kind] += 1
        rng = random.Random(f"run:{seed}:{chunk}:{i}")
        t0 = time.perf_counter()
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            outcome = run_one(text, rng, grad_max_len, eval_every > 0 and i % eval_every == 0)
        except Timeout:
            outcome = "FAIL: timeout"
            failures.append({"where": f"{chunk}:{i}", "kind": kind, "error": f"Timeout (> {timeout} s)",
                             "input": text[:300], "length": len(text)})
        except BaseException as e:  # noqa: BLE001 - that is the point: anything else escaping
            outcome = f"FAIL: {type(e).__name__}"
            tb = traceback.extract_tb(e.__traceback__)
            failures.append({"where": f"{chunk}:{i}", "kind": kind, "error": f"{type(e).__name__}: {e}"[:300],
                             "input": text[:300], "length": len(text),
                             "at": f"{tb[-1].filename}:{tb[-1].lineno}" if tb else ""})
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        dt = time.perf_counter() - t0
        if dt > slowest[0]:
            slowest = (dt, text[:200], i)
        outcomes[outcome] += 1
    return {"chunk": chunk, "outcomes": outcomes, "kinds": kinds, "failures": failures,
            "slowest": (slowest[0], slowest[1], f"{chunk}:{slowest[2]}")}


# ------------------------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="inputs to run (default 10^6)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="worker processes")
    ap.add_argument("--chunk", type=int, default=2000, help="inputs per chunk")
    ap.add_argument("--timeout", type=float, default=5.0, help="seconds allowed per input")
    ap.add_argument("--grad-max-len", type=int, default=2000, help="skip grad for longer inputs")
    ap.add_argument("--eval-every", type=int, default=5, help="evaluate the gradient for 1 input in this many")
    ap.add_argument("--replay", help="CHUNK:INDEX: run one input and show the traceback")
    ap.add_argument("--json", help="write the figures and every failure to this JSON file")
    args = ap.parse_args(argv)

    if args.replay:
        c, i = (int(s) for s in args.replay.split(":"))
        kind, text = make_input(args.seed, c, i)
        print(f"{kind} input ({len(text)} chars): {text[:500]!r}")
        rng = random.Random(f"run:{args.seed}:{c}:{i}")
        t0 = time.perf_counter()
        print(run_one(text, rng, args.grad_max_len, args.eval_every > 0 and i % args.eval_every == 0))
        print(f"{time.perf_counter() - t0:.3f} s")
        return 0

    n_chunks = (args.n + args.chunk - 1) // args.chunk
    sizes = [min(args.chunk, args.n - c * args.chunk) for c in range(n_chunks)]
    outcomes: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    failures: list[dict[str, Any]] = []
    slowest = (0.0, "", "")
    done = 0
    t0 = time.time()
    print(f"matdiff {matdiff.__version__}: fuzzing {args.n} inputs, seed {args.seed}, {args.jobs} processes, "
          f"timeout {args.timeout} s per input", flush=True)
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futs = {pool.submit(run_chunk, args.seed, c, sizes[c], args.timeout, args.grad_max_len,
                            args.eval_every): c for c in range(n_chunks)}
        for fut in as_completed(futs):
            c = futs[fut]
            try:
                res = fut.result()
            except Exception as e:  # a worker died (a crash): the whole chunk counts as failed
                failures.append({"where": f"chunk {c}", "kind": "?", "error": f"worker died: {e!r}",
                                 "input": "", "length": 0})
                outcomes["FAIL: worker died"] += sizes[c]
                done += sizes[c]
                continue
            outcomes.update(res["outcomes"])
            kinds.update(res["kinds"])
            failures.extend(res["failures"])
            if res["slowest"][0] > slowest[0]:
                slowest = res["slowest"]
            done += sizes[c]
            if (len(failures) and res["failures"]) or c % 25 == 0:
                print(f"  {done} inputs, {len(failures)} failures, {time.time() - t0:.0f} s", flush=True)

    elapsed = time.time() - t0
    print(f"\ninputs run: {done} in {elapsed:.0f} s ({done / max(elapsed, 1e-9):.0f}/s)")
    print("inputs by generator: " + ", ".join(f"{k} {v}" for k, v in kinds.most_common()))
    print("outcomes:")
    for k, v in sorted(outcomes.items(), key=lambda kv: -kv[1]):
        print(f"  {v:9d}  {k}")
    print(f"slowest input: {slowest[0]:.3f} s at {slowest[2]}: {slowest[1][:120]!r}")
    escaped = Counter(f["error"].split(":")[0] for f in failures)
    print(f"escaped (not MatdiffError) or timed out: {len(failures)}" +
          (f" -- {dict(escaped)}" if escaped else ""))
    shown: Counter[str] = Counter()  # at most 3 examples of each (error class, place)
    for f in failures:
        key = f["error"].split(":")[0] + " " + f.get("at", "")
        shown[key] += 1
        if shown[key] > 3:
            continue
        print(f"  [{f['where']}] ({f['kind']}, {f['length']} chars) {f['error']}  {f.get('at', '')}\n"
              f"      input: {f['input'][:200]!r}\n"
              f"      replay: python scripts/fuzz_parser.py --seed {args.seed} --replay {f['where']}")
    for key, n in shown.items():
        if n > 3:
            print(f"  ... {key}: {n} in all")
    if failures:  # the distinct inputs behind them, by their first 24 characters
        starts = Counter(f"{f['error'].split(':')[0]}: {f['input'][:24]!r}" for f in failures)
        print("failures by error and input prefix:")
        for k, n in starts.most_common(20):
            print(f"  {n:6d}  {k}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"inputs": done, "seconds": round(elapsed, 1), "seed": args.seed, "outcomes": outcomes,
                       "by_generator": kinds, "slowest": slowest, "failures": failures}, fh, indent=1)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
