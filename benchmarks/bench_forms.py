#!/usr/bin/env python3
"""Textbook forms: how many gradients print as the Matrix Cookbook / an ML text prints them (issue 16).

    python benchmarks/bench_forms.py                  # the table and the summary line
    python benchmarks/bench_forms.py --markdown out.md

For each row of ``benchmarks/forms.py``: derive (``matdiff.grad``, or ``hessian`` / ``derivative``
by the row's kind), print, and compare the printed result with the textbook form:

* tokens: both texts are split by matdiff's own lexer (``matdiff.syntax.parser.tokenize``); a
  Kronecker form (``⊗``, which the language does not parse) is split by a regex of identifiers,
  numbers and operators instead, the same for both sides;
* value: the printed result is parsed back and evaluated (``matdiff.evaluate``) at two random points
  (``matdiff.verify.sampling.sample_values``: square invertible, spd, symmetric as the types say),
  and so is the textbook form; equal within rtol 1e-8.  A Kronecker form ``c*(L ⊗ R)`` is evaluated
  as ``c*np.kron(L, R)`` with L and R evaluated by matdiff;
* in form: value equal and no more tokens than the textbook's.

Derivation time: the median over the rows of the median of a few ``matdiff.grad`` (or
``hessian`` / ``derivative``) calls.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from forms import FORMS, Form

import matdiff
from matdiff.syntax.parser import tokenize
from matdiff.verify.sampling import sample_values

RTOL = 1e-8
SEEDS = (0, 1)
KRON = "⊗"
_REGEX_TOKEN = re.compile(r"\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|[A-Za-z][A-Za-z0-9_]*|\.\*|\./|\.\^|⊗|\S")


def tokens(text: str) -> list[str]:
    """The tokens of a printed form: matdiff's lexer, or the regex for a Kronecker form."""
    if KRON in text:
        return _REGEX_TOKEN.findall(text)
    return [t for kind, t, _ in tokenize(text) if kind != "end"]


def derive(row: Form) -> Any:
    types = row.types or None
    if row.kind == "gradient":
        return matdiff.grad(row.expr, wrt=row.wrt, types=types)
    if row.kind == "hessian":
        return matdiff.hessian(row.expr, wrt=row.wrt, types=types)
    return matdiff.derivative(row.expr, wrt=row.wrt, types=types)


def printed(row: Form, result: Any) -> str | None:
    """What matdiff prints for the row (None where it prints no such form)."""
    if row.kind == "gradient":
        return str(result.gradient)
    if row.kind == "hessian":
        return None if result.expr is None else str(result.expr)
    if row.kind == "jacobian":
        return result.jacobian_text
    if result.kronecker is None:
        return None
    text = result.kronecker[0].strip()
    suffix = f"vec(d{row.wrt})"
    return text[: -len(suffix)].strip() if text.endswith(suffix) else text


def numeric(row: Form, result: Any, values: dict[str, Any]) -> np.ndarray:
    """The derivative at ``values`` as the result computes it (not from its printed text)."""
    if row.kind == "gradient":
        return np.asarray(result.evaluate(values), dtype=float)
    if row.kind == "hessian":
        return np.asarray(result.evaluate(values), dtype=float)
    return np.asarray(result.jacobian(values), dtype=float)


_KRON_TERM = re.compile(r"^\s*(?:(?P<neg>-)|(?P<coef>-?\d+(?:\.\d+)?)\*)?\((?P<inner>.*)\)\s*$")


def _kron_value(text: str, values: dict[str, Any], types: dict[str, str] | None) -> np.ndarray:
    """``[c*](L ⊗ R)`` or ``L ⊗ R`` (one Kronecker product) evaluated as c*kron(L, R)."""
    coef, inner = 1.0, text
    m = _KRON_TERM.match(text)
    if m and m.group("inner").count(KRON) == 1:
        coef = -1.0 if m.group("neg") else float(m.group("coef") or 1.0)
        inner = m.group("inner")
    parts = inner.split(KRON)
    if len(parts) != 2:
        raise ValueError(f"not one Kronecker product: {text}")
    left, right = (np.atleast_2d(matdiff.evaluate(p.strip(), values, types)) for p in parts)
    return coef * np.kron(left, right)


def value(row: Form, text: str, values: dict[str, Any]) -> np.ndarray:
    """A printed form (matdiff's or the textbook's) evaluated at ``values``."""
    types = row.types or None
    if row.kind == "kronecker":
        return _kron_value(text, values, types)
    return np.asarray(matdiff.evaluate(text, values, types), dtype=float)


def close(got: np.ndarray, want: np.ndarray) -> bool:
    """Equal within RTOL; a 0-d textbook value (a plain ``0``) stands for a constant array."""
    if want.ndim == 0 and got.ndim > 0:
        want = np.broadcast_to(want, got.shape)
    if got.ndim == 0 and want.ndim > 0:
        got = np.broadcast_to(got, want.shape)
    if got.ndim == 2 and want.ndim == 2 and 1 in got.shape and got.size == want.size:
        got = got.reshape(want.shape)
    if got.shape != want.shape:
        return False
    scale = max(1.0, float(np.max(np.abs(want), initial=0.0)))
    return bool(np.allclose(got, want, rtol=RTOL, atol=RTOL * scale))


def points(row: Form) -> list[dict[str, Any]]:
    return [sample_values(row.expr, row.types or None, seed=s, wrt=row.wrt) for s in SEEDS]


@dataclass
class Measured:
    row: Form
    printed: str | None
    tokens_matdiff: int | None
    tokens_textbook: int
    value_equal: bool  # matdiff's printed form has the textbook form's value
    textbook_right: bool  # the textbook form has the value the result computes (the table's honesty)
    error: str = ""
    ms: float = float("nan")

    @property
    def in_form(self) -> bool:
        return (self.value_equal and self.tokens_matdiff is not None
                and self.tokens_matdiff <= self.tokens_textbook)


def measure(row: Form, repeat: int = 0) -> Measured:
    """Derive, print and compare one row (``repeat`` > 0: also time the derivation, the median in ms)."""
    result = derive(row)
    ms = float("nan")
    if repeat:
        ts = []
        for _ in range(repeat):
            t = time.perf_counter()
            derive(row)
            ts.append(time.perf_counter() - t)
        ms = 1e3 * statistics.median(ts)
    text = printed(row, result)
    out = Measured(row, text, len(tokens(text)) if text is not None else None, len(tokens(row.textbook)),
                   value_equal=text is not None, textbook_right=True, ms=ms)
    errors = []
    for values in points(row):
        try:
            want = value(row, row.textbook, values)
        except Exception as err:  # a textbook form that does not evaluate is wrong
            out.textbook_right = out.value_equal = False
            errors.append(f"textbook: {type(err).__name__}: {err}")
            continue
        try:
            truth = numeric(row, result, values)
        except Exception as err:  # reported in the table
            truth = None
            errors.append(f"result: {type(err).__name__}: {err}")
        if truth is not None and not close(truth, want):
            out.textbook_right = False
        if text is not None:
            try:
                got = value(row, text, values)
            except Exception as err:  # reported in the table
                out.value_equal = False
                errors.append(f"printed: {type(err).__name__}: {err}")
                continue
            if not close(got, want):
                out.value_equal = False
    out.error = "; ".join(dict.fromkeys(errors))
    return out


def _cell(text: str | None) -> str:
    if text is None:
        return "—"
    return "`" + text.replace("|", "\\|") + "`"


def markdown(rows: list[Measured]) -> str:
    lines = ["| id | source | expression | wrt | matdiff prints | textbook | tokens m/t | in form |",
             "|---|---|---|---|---|---|---|---|"]
    for m in rows:
        r = m.row
        mark = "yes" if m.in_form else ("no (value differs)" if not m.value_equal else "no")
        if not m.textbook_right:
            mark += " — textbook value differs from the result"
        tok = f"{m.tokens_matdiff if m.tokens_matdiff is not None else '—'}/{m.tokens_textbook}"
        what = r.expr if r.kind == "gradient" else f"{r.kind} of {r.expr}"
        lines.append(f"| {r.id} | {r.source} | {_cell(what)} | {r.wrt} | {_cell(m.printed)} | "
                     f"{_cell(r.textbook)} | {tok} | {mark} |")
    return "\n".join(lines)


def summary(rows: list[Measured]) -> str:
    n = sum(m.in_form for m in rows)
    ms = statistics.median(m.ms for m in rows)
    return f"{n} of {len(rows)} in form; median derivation time {ms:.2f} ms"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--markdown", metavar="FILE", help="also write the table and the summary to FILE")
    ap.add_argument("--repeat", type=int, default=7, help="derivations timed per row (median)")
    args = ap.parse_args(argv)
    rows = [measure(row, repeat=max(1, args.repeat)) for row in FORMS]
    table = markdown(rows)
    line = summary(rows)
    print(table)
    print()
    bad = [m for m in rows if not m.textbook_right]
    if bad:
        print("textbook forms whose value differs from the result: " + ", ".join(m.row.id for m in bad))
    errs = [m for m in rows if m.error]
    for m in errs:
        print(f"{m.row.id}: {m.error}")
    print(line)
    if args.markdown:
        Path(args.markdown).write_text(table + "\n\n" + line + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
