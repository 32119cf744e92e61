"""The textbook-forms table (benchmarks/forms.py, issue 16 "Measure"): honest, large enough, no regressions.

(a) every textbook form in the table has the value matdiff's derivative has (computed by the result,
    and from its printed text parsed back) at random points: a wrong textbook form is a defect of
    the table, a printed result of another value a bug of matdiff;
(b) the rows that print in form today (no more tokens than the textbook's form, the same value)
    stay in form: add a row's id to IN_FORM when it comes into form;
(c) the table has at least 40 rows, with distinct ids.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from bench_forms import measure, tokens  # noqa: E402
from forms import FORMS  # noqa: E402

IN_FORM = [
    "i16-tr-x3", "i16-log-det", "i16-det-inv", "i16-logdet-xtx", "i16-tr-x-invx", "i16-tr-diff", "i16-bce",
    "i16-bce-exp", "i16-bce-hess", "i16-exp-quad", "i16-diag-v", "i16-gauss-nll-s", "i16-sqrt-tr", "i16-jac-inv",
    "cb49-det", "cb54-logdet", "cb52-logdet-xtx", "cb55-det-xk", "cb-det-xt", "cb-det-sq", "cb-logdet-axb",
    "cb-logdet-spd", "cb60-a-invx-b", "cb61-det-inv", "cb62-tr-a-invx-b", "cb-tr-invx-a", "cb-tr-invx", "cb-x-inva-x",
    "cb-x-invs-x", "cb-eigmax", "cb-eigmin", "cb69-xa", "cb69-ax", "cb70-axb", "cb71-axtb", "cb72-axa", "cb77-bxtxc",
    "cb78-bilinear", "cb81-xbx", "cb81-xsx", "cb82-bxtdxc", "cb83-xbc-d", "cb84-xs-w-x", "cb85-xs-w-s",
    "cb86-xas-w-x", "cb87-xas-w-s", "cb88-xas-w-a", "cb-ax2b", "cb-xtx", "cb99-tr-x", "cb100-tr-xa", "cb101-tr-axb",
    "cb102-tr-axtb", "cb103-tr-xta", "cb104-tr-axt", "cb106-tr-x2", "cb107-tr-x2b", "cb108-tr-xtbx", "cb109-tr-bxxt",
    "cb110-tr-xxtb", "cb111-tr-xbxt", "cb112-tr-bxtx", "cb113-tr-xtxb", "cb114-tr-axbx", "cb115-tr-xtx",
    "cb115-tr-xxt", "cb116-tr-btxtcxb", "cb117-tr-xtbxc", "cb118-tr-axbxtc", "cb119-tr-sq", "cb121-tr-x4",
    "cb122-tr-ax2", "cb124-tr-axinvb", "hi-tr-expm", "cb129-norm2", "cb131-norm2-sq", "cb-norm2-sq-xa",
    "cb132-fro-sq", "cb-fro", "cb-fro-axb", "cb-nuc", "cb-spec", "cb-norm1", "ml-ls", "ml-ls-half", "ml-ridge",
    "ml-lasso", "ml-wls", "ml-multi-ls", "ml-ridge-mat", "ml-mf-u", "ml-mf-v", "ml-logistic-pm", "ml-softplus-pm",
    "ml-bce-x", "ml-poisson", "ml-softmax-ce-w", "ml-softmax-nce-w", "ml-softmax-ce-x", "ml-lse", "ml-log-sum-exp",
    "ml-lse-wx", "ml-gauss-m", "ml-gauss-mle-s", "ml-gauss-prec", "ml-gp-k", "ml-barrier", "ml-pca", "ml-relu-layer",
    "ml-tanh-layer", "ml-sigmoid-layer", "h-xax", "h-ls", "h-lse", "h-ridge", "j-ax", "j-softmax", "j-sigmoid",
    "j-axb"
]

_cache: dict[str, object] = {}


def measured(row):
    if row.id not in _cache:
        _cache[row.id] = measure(row)
    return _cache[row.id]


def test_the_table_has_forty_rows_with_distinct_ids():
    assert len(FORMS) >= 40
    ids = [row.id for row in FORMS]
    assert len(set(ids)) == len(ids), sorted(i for i in ids if ids.count(i) > 1)
    assert set(IN_FORM) <= set(ids), sorted(set(IN_FORM) - set(ids))


@pytest.mark.parametrize("row", FORMS, ids=[row.id for row in FORMS])
def test_textbook_form_has_matdiffs_value(row):
    m = measured(row)
    assert m.textbook_right, f"{row.id}: the textbook form {row.textbook} differs from the result ({m.error})"
    assert m.printed is not None, f"{row.id}: matdiff prints no {row.kind} form"
    assert m.value_equal, f"{row.id}: the printed {m.printed} differs from {row.textbook} ({m.error})"


@pytest.mark.parametrize("row", [row for row in FORMS if row.id in IN_FORM],
                         ids=[row.id for row in FORMS if row.id in IN_FORM])
def test_stays_in_form(row):
    m = measured(row)
    assert m.in_form, (f"{row.id}: {row.expr} prints {m.printed} ({m.tokens_matdiff} tokens), "
                       f"the textbook {row.textbook} ({m.tokens_textbook})")


def test_tokens_count_matdiffs_lexer_and_kronecker_forms():
    assert tokens("X'*(sigmoid(X*w) - y)") == ["X", "'", "*", "(", "sigmoid", "(", "X", "*", "w", ")", "-", "y", ")"]
    assert tokens("-(inv(X)' ⊗ inv(X))") == ["-", "(", "inv", "(", "X", ")", "'", "⊗", "inv", "(", "X", ")", ")"]
    assert len(tokens("0.5*x.^2")) == 5
