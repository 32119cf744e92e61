"""The former home of :mod:`matdiff.runtime.factor`: the same module under its old name, for imports not yet
updated (functions/*, numeric/evaluate.py).  New code imports ``matdiff.runtime.factor``."""

import sys

from ..runtime import factor as _moved

sys.modules[__name__] = _moved
