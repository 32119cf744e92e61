"""The textbook-forms table: gradients as the Matrix Cookbook and ML texts print them (issue 16, "Measure").

Each row is data: an expression, the variable, the types it needs, and the form a textbook prints,
written in matdiff's own language (so it parses and evaluates).  ``benchmarks/bench_forms.py``
derives every row, compares the printed result with the textbook form (token count and value) and
``tests/test_forms_table.py`` checks that every textbook form here has matdiff's value.

Sources: "Cookbook (n)" is equation n of The Matrix Cookbook (Petersen & Pedersen, version of
2012-11-15), sections 2.1 determinants, 2.2 inverses, 2.3 eigenvalues, 2.4 vector and matrix forms,
2.5 traces, 2.6 norms; "Cookbook §x" where a row is the section's rule applied to a particular case.
Equation numbers differ between editions: check one against your copy before quoting it.
"issue 16" marks the rows of the issue's own table, "ML: ..." common machine-learning losses.

Kinds: ``gradient`` (``matdiff.grad``, the printed ``r.gradient``), ``hessian`` (``matdiff.hessian``,
the printed ``h.expr``), ``jacobian`` (``matdiff.derivative``, the printed J of ``dF = J*dx``) and
``kronecker`` (``matdiff.derivative``, the printed ``vec(dF) = (... ⊗ ...) vec(dX)`` form; the
textbook text is the matrix in front of ``vec(dX)``).

Letters follow the naming convention (a-g scalars, h-z vectors, A-Z matrices); rows declare what
differs (``a``, ``b`` as vectors in ``a'*X*b``, ``lam`` as a scalar, ``S`` spd, square sizes where
the Cookbook's identity needs square matrices).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Form:
    id: str
    source: str
    expr: str
    wrt: str
    textbook: str
    types: dict[str, str] = field(default_factory=dict)
    kind: str = "gradient"  # gradient | hessian | jacobian | kronecker


VEC_AB = {"a": "vector", "b": "vector"}
VEC_BC = {"b": "vector", "c": "vector"}
SQUARE = {"X": "matrix(n,n)", "A": "matrix(n,n)", "B": "matrix(n,n)"}
BCE = "-(y'*log(sigmoid(X*w)) + (1 - y)'*log(1 - sigmoid(X*w)))"
BCE_EXP = "-(y'*log(1./(1 + exp(-X*w))) + (1 - y)'*log(1 - 1./(1 + exp(-X*w))))"

FORMS: list[Form] = [
    # ---------------------------------------------------------------- issue 16's table
    Form("i16-tr-x3", "issue 16 / Cookbook (121)", "tr(X^3)", "X", "3*X'^2"),
    Form("i16-log-det", "issue 16 / Cookbook (54)", "log(det(X))", "X", "inv(X)'"),
    Form("i16-det-inv", "issue 16 / Cookbook (61)", "det(inv(X))", "X", "-det(inv(X))*inv(X)'"),
    Form("i16-det-axb", "issue 16 / Cookbook (51)", "det(A*X*B)", "X", "det(A*X*B)*inv(X)'", SQUARE),
    Form("i16-logdet-xtx", "issue 16 / Cookbook (52)", "log(det(X'*X))", "X", "2*X*inv(X'*X)"),
    # the textbook's 0, written as the zero that carries its size (issue 16: "printed as a zero that carries
    # its size"; docs/language.md, zeros(E)): a bare 0 would evaluate to a scalar, not to X's shape
    Form("i16-tr-x-invx", "issue 16", "tr(X*inv(X))", "X", "zeros(X)"),
    Form("i16-tr-diff", "issue 16", "tr(X'*X) - tr(X*X')", "X", "zeros(X)"),
    Form("i16-bce", "issue 16 / ML: logistic", BCE, "w", "X'*(sigmoid(X*w) - y)"),
    Form("i16-bce-exp", "issue 16 / ML: logistic", BCE_EXP, "w", "X'*(sigmoid(X*w) - y)"),
    Form("i16-bce-hess", "issue 16 / ML: logistic Hessian", BCE, "w",
         "X'*diag(sigmoid(X*w).*(1 - sigmoid(X*w)))*X", kind="hessian"),
    Form("i16-exp-quad", "issue 16", "exp(x'*A*x)", "x", "exp(x'*A*x)*(A + A')*x"),
    Form("i16-diag-v", "issue 16", "x'*diag(v)*x", "v", "x.^2"),
    Form("i16-gauss-nll-s", "issue 16 / ML: Gaussian NLL", "0.5*logdet(S) + 0.5*(x - m)'*inv(S)*(x - m)", "S",
         "0.5*(inv(S) - inv(S)*(x - m)*(x - m)'*inv(S))", {"S": "spd"}),
    Form("i16-sqrt-tr", "issue 16", "sqrt(tr(X'*X))", "X", "X/norm_fro(X)"),
    Form("i16-jac-inv", "issue 16 / Cookbook (59)", "inv(X)", "X", "-(inv(X)' ⊗ inv(X))", kind="kronecker"),
    # ---------------------------------------------------------------- 2.1 determinants
    Form("cb49-det", "Cookbook (49)", "det(X)", "X", "det(X)*inv(X)'"),
    Form("cb54-logdet", "Cookbook (54)", "logdet(X)", "X", "inv(X)'"),
    Form("cb52-logdet-xtx", "Cookbook (52)", "logdet(X'*X)", "X", "2*X*inv(X'*X)"),
    Form("cb55-det-xk", "Cookbook (55)", "det(X^3)", "X", "3*det(X^3)*inv(X)'"),
    Form("cb-det-xt", "Cookbook §2.1", "det(X')", "X", "det(X)*inv(X)'"),
    Form("cb-det-sq", "Cookbook §2.1", "det(X)^2", "X", "2*det(X)^2*inv(X)'"),
    Form("cb-logdet-axb", "Cookbook §2.1", "logdet(A*X*B)", "X", "inv(X)'", SQUARE),
    Form("cb-logdet-spd", "Cookbook §2.1 (S spd)", "logdet(S)", "S", "inv(S)", {"S": "spd"}),
    # ---------------------------------------------------------------- 2.2 inverses
    Form("cb60-a-invx-b", "Cookbook (60)", "a'*inv(X)*b", "X", "-inv(X)'*a*b'*inv(X)'", VEC_AB),
    Form("cb61-det-inv", "Cookbook (61)", "det(inv(X))", "X", "-det(inv(X))*inv(X)'"),
    Form("cb62-tr-a-invx-b", "Cookbook (62)", "tr(A*inv(X)*B)", "X", "-(inv(X)*B*A*inv(X))'"),
    Form("cb-tr-invx-a", "Cookbook §2.2", "tr(inv(X)*A)", "X", "-(inv(X)*A*inv(X))'"),
    Form("cb-tr-invx", "Cookbook §2.2", "tr(inv(X))", "X", "-inv(X)'^2"),
    Form("cb-x-inva-x", "Cookbook §2.2", "x'*inv(A)*x", "A", "-inv(A)'*x*x'*inv(A)'"),
    Form("cb-x-invs-x", "Cookbook §2.2 (S spd)", "x'*inv(S)*x", "S", "-inv(S)*x*x'*inv(S)", {"S": "spd"}),
    # ---------------------------------------------------------------- 2.3 eigenvalues
    Form("cb-eigmax", "Cookbook §2.3 (S symmetric)", "eigmax(S)", "S", "eigvec_max(S)*eigvec_max(S)'",
         {"S": "symmetric"}),
    Form("cb-eigmin", "Cookbook §2.3 (S symmetric)", "eigmin(S)", "S", "eigvec_min(S)*eigvec_min(S)'",
         {"S": "symmetric"}),
    # ---------------------------------------------------------------- 2.4 vector and matrix forms
    Form("cb69-xa", "Cookbook (69)", "x'*a", "x", "a", {"a": "vector"}),
    Form("cb69-ax", "Cookbook (69)", "a'*x", "x", "a", {"a": "vector"}),
    Form("cb70-axb", "Cookbook (70)", "a'*X*b", "X", "a*b'", VEC_AB),
    Form("cb71-axtb", "Cookbook (71)", "a'*X'*b", "X", "b*a'", VEC_AB),
    Form("cb72-axa", "Cookbook (72)", "a'*X*a", "X", "a*a'", {"a": "vector"}),
    Form("cb77-bxtxc", "Cookbook (77)", "b'*X'*X*c", "X", "X*(b*c' + c*b')", VEC_BC),
    Form("cb78-bilinear", "Cookbook (78)", "(B*x + b)'*C*(D*x + d)", "x", "B'*C*(D*x + d) + D'*C'*(B*x + b)",
         {"b": "vector", "d": "vector"}),
    Form("cb81-xbx", "Cookbook (81)", "x'*B*x", "x", "(B + B')*x"),
    Form("cb81-xsx", "Cookbook (81) (S symmetric)", "x'*S*x", "x", "2*S*x", {"S": "symmetric"}),
    Form("cb82-bxtdxc", "Cookbook (82)", "b'*X'*D*X*c", "X", "D'*X*b*c' + D*X*c*b'", VEC_BC),
    Form("cb83-xbc-d", "Cookbook (83)", "(X*b + c)'*D*(X*b + c)", "X", "(D + D')*(X*b + c)*b'", VEC_BC),
    Form("cb84-xs-w-x", "Cookbook (84) (W symmetric)", "(x - s)'*W*(x - s)", "x", "2*W*(x - s)",
         {"W": "symmetric"}),
    Form("cb85-xs-w-s", "Cookbook (85) (W symmetric)", "(x - s)'*W*(x - s)", "s", "-2*W*(x - s)",
         {"W": "symmetric"}),
    Form("cb86-xas-w-x", "Cookbook (86) (W symmetric)", "(x - A*s)'*W*(x - A*s)", "x", "2*W*(x - A*s)",
         {"W": "symmetric"}),
    Form("cb87-xas-w-s", "Cookbook (87) (W symmetric)", "(x - A*s)'*W*(x - A*s)", "s", "-2*A'*W*(x - A*s)",
         {"W": "symmetric"}),
    Form("cb88-xas-w-a", "Cookbook (88) (W symmetric)", "(x - A*s)'*W*(x - A*s)", "A", "-2*W*(x - A*s)*s'",
         {"W": "symmetric"}),
    Form("cb-ax2b", "Cookbook §2.4.3, n = 2", "a'*X^2*b", "X", "a*b'*X' + X'*a*b'", VEC_AB),
    Form("cb-xtx", "Cookbook §2.4", "x'*x", "x", "2*x"),
    # ---------------------------------------------------------------- 2.5 traces
    Form("cb99-tr-x", "Cookbook (99)", "tr(X)", "X", "eye(X)"),
    Form("cb100-tr-xa", "Cookbook (100)", "tr(X*A)", "X", "A'"),
    Form("cb101-tr-axb", "Cookbook (101)", "tr(A*X*B)", "X", "A'*B'"),
    Form("cb102-tr-axtb", "Cookbook (102)", "tr(A*X'*B)", "X", "B*A"),
    Form("cb103-tr-xta", "Cookbook (103)", "tr(X'*A)", "X", "A"),
    Form("cb104-tr-axt", "Cookbook (104)", "tr(A*X')", "X", "A"),
    Form("cb106-tr-x2", "Cookbook (106)", "tr(X^2)", "X", "2*X'"),
    Form("cb107-tr-x2b", "Cookbook (107)", "tr(X^2*B)", "X", "(X*B + B*X)'"),
    Form("cb108-tr-xtbx", "Cookbook (108)", "tr(X'*B*X)", "X", "(B + B')*X"),
    Form("cb109-tr-bxxt", "Cookbook (109)", "tr(B*X*X')", "X", "(B + B')*X"),
    Form("cb110-tr-xxtb", "Cookbook (110)", "tr(X*X'*B)", "X", "(B + B')*X"),
    Form("cb111-tr-xbxt", "Cookbook (111)", "tr(X*B*X')", "X", "X*(B + B')"),
    Form("cb112-tr-bxtx", "Cookbook (112)", "tr(B*X'*X)", "X", "X*(B + B')"),
    Form("cb113-tr-xtxb", "Cookbook (113)", "tr(X'*X*B)", "X", "X*(B + B')"),
    Form("cb114-tr-axbx", "Cookbook (114)", "tr(A*X*B*X)", "X", "A'*X'*B' + B'*X'*A'"),
    Form("cb115-tr-xtx", "Cookbook (115)", "tr(X'*X)", "X", "2*X"),
    Form("cb115-tr-xxt", "Cookbook (115)", "tr(X*X')", "X", "2*X"),
    Form("cb116-tr-btxtcxb", "Cookbook (116)", "tr(B'*X'*C*X*B)", "X", "(C + C')*X*B*B'"),
    Form("cb117-tr-xtbxc", "Cookbook (117)", "tr(X'*B*X*C)", "X", "B*X*C + B'*X*C'"),
    Form("cb118-tr-axbxtc", "Cookbook (118)", "tr(A*X*B*X'*C)", "X", "A'*C'*X*B' + C*A*X*B"),
    Form("cb119-tr-sq", "Cookbook (119)", "tr((A*X*B + C)*(A*X*B + C)')", "X", "2*A'*(A*X*B + C)*B'"),
    Form("cb121-tr-x4", "Cookbook (121), k = 4", "tr(X^4)", "X", "4*X'^3"),
    Form("cb122-tr-ax2", "Cookbook (122), k = 2", "tr(A*X^2)", "X", "(A*X + X*A)'"),
    Form("cb124-tr-axinvb", "Cookbook (124)", "tr(A*inv(X)*B)", "X", "-inv(X)'*A'*B'*inv(X)'"),
    Form("hi-tr-expm", "Higham, matrix functions", "tr(expm(X))", "X", "expm(X)'"),
    # ---------------------------------------------------------------- 2.6 norms
    Form("cb129-norm2", "Cookbook (129)", "norm2(x - a)", "x", "(x - a)/norm2(x - a)", {"a": "vector"}),
    Form("cb131-norm2-sq", "Cookbook (131)", "norm2(x)^2", "x", "2*x"),
    Form("cb-norm2-sq-xa", "Cookbook §2.6", "norm2(x - a)^2", "x", "2*(x - a)", {"a": "vector"}),
    Form("cb132-fro-sq", "Cookbook (132)", "norm_fro(X)^2", "X", "2*X"),
    Form("cb-fro", "Cookbook §2.6", "norm_fro(X)", "X", "X/norm_fro(X)"),
    Form("cb-fro-axb", "Cookbook §2.6", "norm_fro(A*X - B)^2", "X", "2*A'*(A*X - B)"),
    Form("cb-nuc", "Cookbook §2.6", "norm_nuc(X)", "X", "polar(X)"),
    Form("cb-spec", "Cookbook §2.6", "norm2(X)", "X", "top_sv(X)"),
    Form("cb-norm1", "Cookbook §2.6", "norm1(x)", "x", "sign(x)"),
    # ---------------------------------------------------------------- ML losses
    Form("ml-ls", "ML: least squares", "norm2(A*x - b)^2", "x", "2*A'*(A*x - b)", {"b": "vector"}),
    Form("ml-ls-half", "ML: least squares", "0.5*norm2(X*w - y)^2", "w", "X'*(X*w - y)"),
    Form("ml-ridge", "ML: ridge", "norm2(X*w - y)^2 + lam*norm2(w)^2", "w", "2*X'*(X*w - y) + 2*lam*w",
         {"lam": "scalar"}),
    Form("ml-lasso", "ML: lasso", "0.5*norm2(X*w - y)^2 + lam*norm1(w)", "w", "X'*(X*w - y) + lam*sign(w)",
         {"lam": "scalar"}),
    Form("ml-wls", "ML: weighted least squares (S symmetric)", "(y - X*w)'*S*(y - X*w)", "w",
         "-2*X'*S*(y - X*w)", {"S": "symmetric"}),
    Form("ml-multi-ls", "ML: multi-output least squares", "norm_fro(Y - X*W)^2", "W", "-2*X'*(Y - X*W)"),
    Form("ml-ridge-mat", "ML: ridge (matrix)", "norm_fro(A*X - B)^2 + lam*norm_fro(X)^2", "X",
         "2*A'*(A*X - B) + 2*lam*X", {"lam": "scalar"}),
    Form("ml-mf-u", "ML: matrix factorisation", "norm_fro(X - U*V')^2", "U", "-2*(X - U*V')*V"),
    Form("ml-mf-v", "ML: matrix factorisation", "norm_fro(X - U*V')^2", "V", "-2*(X - U*V')'*U"),
    Form("ml-logistic-pm", "ML: logistic, labels ±1", "sum(log(1 + exp(-y.*(X*w))))", "w",
         "-X'*(y.*sigmoid(-y.*(X*w)))"),
    Form("ml-softplus-pm", "ML: logistic, labels ±1", "sum(softplus(-y.*(X*w)))", "w",
         "-X'*(y.*sigmoid(-y.*(X*w)))"),
    Form("ml-bce-x", "ML: logistic", BCE, "X", "(sigmoid(X*w) - y)*w'"),
    Form("ml-poisson", "ML: Poisson regression", "sum(exp(X*w)) - y'*X*w", "w", "X'*(exp(X*w) - y)"),
    Form("ml-softmax-ce-w", "ML: softmax cross-entropy", "y'*log(softmax(W*x))", "W", "(y - sum(y)*softmax(W*x))*x'"),
    Form("ml-softmax-nce-w", "ML: softmax cross-entropy", "-y'*log(softmax(W*x))", "W",
         "(sum(y)*softmax(W*x) - y)*x'"),
    Form("ml-softmax-ce-x", "ML: softmax cross-entropy", "y'*log(softmax(W*x))", "x",
         "W'*(y - sum(y)*softmax(W*x))"),
    Form("ml-lse", "ML: logsumexp", "logsumexp(x)", "x", "softmax(x)"),
    Form("ml-log-sum-exp", "ML: logsumexp", "log(sum(exp(x)))", "x", "softmax(x)"),
    Form("ml-lse-wx", "ML: logsumexp", "logsumexp(W*x)", "x", "W'*softmax(W*x)"),
    Form("ml-gauss-m", "ML: Gaussian log-likelihood", "-0.5*(x - m)'*inv(S)*(x - m)", "m", "inv(S)*(x - m)",
         {"S": "spd"}),
    Form("ml-gauss-mle-s", "ML: Gaussian log-likelihood (C symmetric)", "logdet(S) + tr(inv(S)*C)", "S",
         "inv(S) - inv(S)*C*inv(S)", {"S": "spd", "C": "symmetric"}),
    Form("ml-gauss-prec", "ML: Gaussian NLL, precision P", "-logdet(P) + (x - m)'*P*(x - m)", "P",
         "(x - m)*(x - m)' - inv(P)", {"P": "spd"}),
    Form("ml-gp-k", "ML: Gaussian process evidence", "y'*inv(K)*y + logdet(K)", "K",
         "inv(K) - inv(K)*y*y'*inv(K)", {"K": "spd"}),
    Form("ml-barrier", "ML: log-det barrier (C symmetric)", "tr(C*S) - logdet(S)", "S", "C - inv(S)",
         {"S": "spd", "C": "symmetric"}),
    Form("ml-pca", "ML: PCA (S symmetric)", "tr(W'*S*W)", "W", "2*S*W", {"S": "symmetric"}),
    Form("ml-relu-layer", "ML: ReLU layer", "sum(relu(W*x))", "W", "step(W*x)*x'"),
    Form("ml-tanh-layer", "ML: tanh layer", "y'*tanh(W*x)", "W", "y.*(1 - tanh(W*x).^2)*x'"),
    Form("ml-sigmoid-layer", "ML: sigmoid layer", "y'*sigmoid(W*x)", "W",
         "y.*sigmoid(W*x).*(1 - sigmoid(W*x))*x'"),
    # ---------------------------------------------------------------- Hessians and Jacobians
    Form("h-xax", "Cookbook §2.4 Hessian", "x'*A*x", "x", "A + A'", kind="hessian"),
    Form("h-ls", "ML: least squares Hessian", "norm2(A*x - b)^2", "x", "2*A'*A", {"b": "vector"}, kind="hessian"),
    Form("h-lse", "ML: logsumexp Hessian", "logsumexp(x)", "x", "diag(softmax(x)) - softmax(x)*softmax(x)'",
         kind="hessian"),
    Form("h-ridge", "ML: ridge Hessian", "norm2(X*w - y)^2 + lam*norm2(w)^2", "w", "2*(X'*X + lam*eye)",
         {"lam": "scalar"}, kind="hessian"),
    Form("j-ax", "Jacobian", "A*x", "x", "A", kind="jacobian"),
    Form("j-softmax", "ML: softmax Jacobian", "softmax(x)", "x", "diag(softmax(x)) - softmax(x)*softmax(x)'",
         kind="jacobian"),
    Form("j-sigmoid", "ML: sigmoid Jacobian", "sigmoid(x)", "x", "diag(sigmoid(x).*(1 - sigmoid(x)))",
         kind="jacobian"),
    Form("j-axb", "Cookbook (520), vec", "A*X*B", "X", "(B' ⊗ A)", kind="kronecker"),
]
