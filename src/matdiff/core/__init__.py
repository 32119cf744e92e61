"""The core: symbolic shapes, the expression nodes and their constructors (no function of the language
is named here; the registry in :mod:`matdiff.functions` holds them)."""
