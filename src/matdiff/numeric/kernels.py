"""The former home of :mod:`matdiff.runtime.kernels`: the same module under its old name, for imports not yet
updated (functions/*, numeric/evaluate.py).  New code imports ``matdiff.runtime.kernels``."""

import sys

from ..runtime import kernels as _moved

sys.modules[__name__] = _moved
