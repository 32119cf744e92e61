"""Results: what a derivation gives, and everything done with it afterwards.

:mod:`~matdiff.results.derive` makes them from a typed tree (one derivation each);
:mod:`~matdiff.results.gradient`, :mod:`~matdiff.results.derivative` and :mod:`~matdiff.results.hessian`
evaluate, print and compile them; :mod:`~matdiff.results.value_and_grad` is ``matdiff.compile``'s
value-and-gradients function; all compile through :mod:`~matdiff.results.compiled`.
"""
