"""Verification of gradients: finite differences, Richardson extrapolation and the complex step.

:mod:`~matdiff.verify.sampling` draws the point and the directions, :mod:`~matdiff.verify.differences`
computes numerical directional derivatives and f's round-off, :mod:`~matdiff.verify.check` judges a
gradient (a result, or one derived here from the expression) against them, and sweeps the step.

A gradient ``G`` of ``f`` with respect to ``X`` is checked through the identity
``<G, V> = D_V f(X) = d/dt f(X + t V) at t = 0`` (Frobenius inner product) along a few
random directions ``V`` (symmetric ones for symmetric/spd variables, where ``G`` is the
Riesz representer on the symmetric matrices).  The directional derivative is computed
numerically from the evaluation of the *expression*, never from matdiff's own
derivative.

Step sizes, for a direction of norm 1 and ``s = max(1, max|X_ij|)`` (the scale of the input;
``eps`` = 2.2e-16, the unit round-off of float64):

=============  ==================================  ===========================  ===================
method         formula                             step                         error
=============  ==================================  ===========================  ===================
forward        (f(X+hV) - f(X)) / h                h = sqrt(eps) s  (1.5e-8 s)  ~ sqrt(eps) = 1.5e-8
central        (f(X+hV) - f(X-hV)) / 2h            h = eps^(1/3) s  (6e-6 s)    ~ eps^(2/3) = 3.7e-11
richardson     central at h0, h0/2, ... extrapol.  h0 = 0.1 s                   ~ 1e-12 .. 1e-10
complex        Im f(X + ihV) / h                   h = 1e-20 s                  ~ eps = 2.2e-16
=============  ==================================  ===========================  ===================

The forward difference has truncation error ``h |f''| / 2`` and round-off ``2 eps |f| / h``:
their sum is smallest at ``h ~ sqrt(eps)``, where both are ``~ sqrt(eps)``.  Central differences
cancel the ``h`` term: truncation ``h^2 |f'''| / 6``, round-off ``eps |f| / h``, best at
``h ~ eps^(1/3)`` with error ``~ eps^(2/3)``.  Richardson extrapolation removes the ``h^2, h^4, ...``
terms of the central difference, so a large first step (little round-off) still gives a
small truncation error.  The complex step subtracts nothing (``Im f(X + ihV) = h D_V f + O(h^3)``),
so ``h`` can be tiny and the error is round-off of f itself: ``~ eps``; it needs ``f`` to be
analytic (the real restriction of a holomorphic function near ``X``).  When ``|f|`` is large
compared with its change over the scale ``s``, round-off in the difference methods grows with
the ratio ``kappa = |f| / (|D| s)``: the expected errors above are multiplied by ``1 + kappa``.

A derivative that is 0 (``tr(X*inv(X))``, ``tr(X'*X) - tr(X*X')``) has no relative error: each
method has an absolute *noise floor*, what its estimate of a zero derivative is made of.  With
``delta_f`` the round-off in the values of f near X (measured: the rms of 3rd and 4th differences
of f at 7 nearby points, ECnoise-style, at least ``eps |f|``; for ``tr(X'*X) - tr(X*X')`` it is the
round-off of the terms, ``~ eps ||X||^2``, although f = 0), the floor is

    forward  2 delta_f / h      central  delta_f / h      richardson  delta_f / h_used
    complex  delta_f / s        (Im f(X + ihV) / h carries the relative round-off of the terms of f)

and the error of a direction is judged against ``max(||G|| ||V||, |D_V f|, 100 floor / tol)``:
``|<G, V> - D_V f| <= max(tol ||G|| ||V||, tol |D_V f|, 100 floor)``.  A direction whose derivative
is below 100 floors counts as 0 within round-off and does not enter ``kappa``.
"""
