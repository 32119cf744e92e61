"""The upper layers import only downward (issue 14, item 2), counting imports written inside functions.

html_hook < steps, jacobians, hessians, frontend < results < verify, display < api < tour < web, cli:
no result or check imports the API, the display layer or the page; the notebook HTML reaches the
results through html_hook, registered by display.notebook.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import matdiff
from matdiff import html_hook

SRC = Path(matdiff.__file__).resolve().parent

# rank of each upper-layer module (by module name prefix); a module may import only ranks <= its own
RANKS = {
    "html_hook": 0,
    "steps": 1, "jacobians": 1, "hessians": 1, "frontend": 1,
    "results": 2,
    "verify": 3, "display": 3,
    "api": 4,
    "tour": 5,
    "web": 6, "cli": 6,
}


def _rank(module: str) -> int | None:
    head = module.split(".")[0]
    return RANKS.get(head)


def _imports(path: Path, module: str) -> list[str]:
    """The matdiff modules imported by a source file (anywhere in it), relative to the package."""
    pkg = module.split(".")[:-1] if path.name != "__init__.py" else module.split(".")
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg[: len(pkg) - (node.level - 1)] + (node.module.split(".") if node.module else [])
            elif (node.module or "").startswith("matdiff."):
                base = node.module.split(".")[1:]
            else:
                continue
            out.append(".".join(base))
            out.extend(".".join(base + [a.name]) for a in node.names)
        elif isinstance(node, ast.Import):
            out.extend(a.name.split(".", 1)[1] for a in node.names if a.name.startswith("matdiff."))
    return [m for m in out if m]


def _modules():
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts:
            yield ".".join(parts), path


@pytest.mark.parametrize("module, path", [(m, p) for m, p in _modules() if _rank(m) is not None],
                         ids=lambda v: v if isinstance(v, str) else "")
def test_upper_layers_import_only_downward(module, path):
    own = _rank(module)
    upward = [m for m in _imports(path, module) if (r := _rank(m)) is not None and r > own]
    assert not upward, f"{module} (rank {own}) imports {upward}"


def test_results_and_checks_do_not_import_the_api_display_or_page():
    for module, path in _modules():
        if module.split(".")[0] in ("results", "verify", "frontend", "steps", "html_hook"):
            bad = [m for m in _imports(path, module) if m.split(".")[0] in ("api", "display", "web", "cli")]
            assert not bad, f"{module} imports {bad}"


def test_notebook_html_is_registered_by_the_display_layer():
    r = matdiff.grad("x'*A*y", wrt="A")
    assert type(r) in html_hook._HTML or any(c in html_hook._HTML for c in type(r).__mro__)
    html = r._repr_html_()
    pytest.importorskip("latex2mathml")
    assert html is not None and "<math" in html
    assert "<math" in r.steps[0]._repr_html_()


def test_an_unregistered_class_falls_back_to_latex():
    class Plain(html_hook.HTMLDisplay):
        pass

    assert Plain()._repr_html_() is None
    html_hook.register_html(Plain, lambda p: "<b>plain</b>")
    try:
        assert Plain()._repr_html_() == "<b>plain</b>"
    finally:
        del html_hook._HTML[Plain]
