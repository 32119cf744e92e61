"""The page of issue 18 (item 7 and the page's parts of items 1-3), in a real Chromium, at 1280 and 390 px.

Each test asserts the behaviour a person met: long formulas wrap instead of being cut off, a changed input
dims the old result, focus stays on the button, Back walks the expressions, LaTeX can be copied, the
Jacobian is checked, contrast is at least 4.5:1 (from computed styles), shape errors are marked and keep
the type selectors. Screenshots go to tmp/artifacts/ (or MATDIFF_ARTIFACTS): look at them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

import test_web_browser  # skips this module too where there is no browser
from test_web_browser import shot

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect
expect.set_options(timeout=30_000)  # a derivation in a fresh worker on a loaded machine can take seconds

LOGISTIC = "sum(log(1 + exp(-y.*(X*w))))"
WIDTHS = [1280, 390]


browser = test_web_browser.browser  # the fixtures of the older page tests
live_server = test_web_browser.live_server


def _page(browser: Any, live_server: str, width: int, clipboard: bool = False) -> Any:
    context = browser.new_context(base_url=live_server, viewport={"width": width, "height": 900},
                                  device_scale_factor=1)
    if clipboard:
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server)
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    pg.js_errors = []  # type: ignore[attr-defined]
    pg.on("pageerror", lambda e: pg.js_errors.append(str(e)))
    return pg


@pytest.fixture(params=WIDTHS, ids=[f"{w}px" for w in WIDTHS])
def page(request: Any, browser: Any, live_server: str) -> Iterator[Any]:  # noqa: F811
    pg = _page(browser, live_server, request.param)
    pg.width = request.param  # type: ignore[attr-defined]
    yield pg
    assert not pg.js_errors, pg.js_errors
    pg.context.close()


@pytest.fixture()
def wide(browser: Any, live_server: str) -> Iterator[Any]:  # noqa: F811
    pg = _page(browser, live_server, 1280, clipboard=True)
    yield pg
    assert not pg.js_errors, pg.js_errors
    pg.context.close()


def run(page: Any, expr: str, wrt: str | None = None) -> None:
    page.fill("#expr", expr)
    if wrt:
        radio = page.locator(f"input[name=wrt][value='{wrt}']")
        radio.wait_for()
        radio.check()
    page.click("#go")


def overflow(page: Any, selector: str) -> dict[str, Any]:
    """How far the box and each of its pieces reach past the box's right edge, and the page's widths."""
    return page.evaluate("""sel => {
        const el = document.querySelector(sel);
        const box = el.getBoundingClientRect();
        const pieces = [...el.querySelectorAll('.mline')].map(s => {
            const r = s.getBoundingClientRect();
            return {right: r.right, top: Math.round(r.top), clipped: s.scrollWidth - s.clientWidth};
        });
        return {scroll: el.scrollWidth - el.clientWidth, right: box.right, pieces,
                page: document.documentElement.scrollWidth, inner: innerWidth,
                text: el.getAttribute('aria-label')};
    }""", selector)


# ---------------------------------------------------------------- long formulas
def test_a_long_formula_wraps_and_is_never_cut_off(page: Any) -> None:
    page.goto("/")
    run(page, LOGISTIC, "w")
    expect(page.locator("#headline math").first).to_be_visible()
    page.wait_for_timeout(200)  # fonts and the fit
    for sel in ("#headline", "#differential"):
        o = overflow(page, sel)
        assert o["scroll"] <= 1, (sel, o)  # nothing hidden to the right, nothing to scroll sideways
        for piece in o["pieces"]:
            assert piece["right"] <= o["right"] + 1, (sel, o)
            assert piece["clipped"] <= 1, (sel, o)
        assert o["page"] <= o["inner"], o
    # the whole formula is there: the gradient's last factor, y, closes the headline
    assert page.locator("#headline").get_attribute("aria-label").endswith("= -X'*(sigmoid(-y.*(X*w)).*y)")
    tops = {p["top"] for p in overflow(page, "#headline")["pieces"]}
    if page.width == 390:
        assert len(tops) >= 2  # the formula goes on over a second line
    shot(page, f"10-logistic-{page.width}")


def test_a_sum_breaks_at_its_plus_and_minus(page: Any) -> None:
    page.goto("/?expr=logdet(S)%20%2B%20tr(inv(S)*C)%20-%200.5*x'*S*x&wrt=S&types=S:spd")
    expect(page.locator("#headline .mline").first).to_be_visible()
    lines = page.locator("#headline .mline")
    assert lines.count() >= 4  # cut before the =, the + and the -s at the top level
    starts = [lines.nth(i).evaluate("s => s.querySelector('mo') && s.querySelector('mo').textContent")
              for i in range(1, lines.count())]
    assert all(op in ("=", "+", "−") for op in starts), starts
    o = overflow(page, "#headline")
    assert o["scroll"] <= 1 and o["page"] <= o["inner"], o
    shot(page, f"11-sum-{page.width}")


# ---------------------------------------------------------------- typography
def test_function_names_signs_and_halves_are_set_as_in_print(wide: Any) -> None:
    page = wide
    page.goto("/?expr=det(A)&wrt=A")
    expect(page.locator("#headline math").first).to_be_visible()
    page.wait_for_timeout(200)
    # det(A): the parenthesis follows the name with no more than a hair's space
    gap = page.evaluate("""() => {
        const mi = [...document.querySelectorAll('#headline mi')].find(m => m.textContent === 'det');
        const open = mi.nextElementSibling.querySelector('mo');
        return open.getBoundingClientRect().left - mi.getBoundingClientRect().right;
    }""")
    assert gap < 3, gap  # it was about 8 px at 30 px: "det ( A )"
    # a unary minus is a sign, set tight against its operand: = -2x, not = - 2x
    page.goto("/?expr=-x'*x&wrt=x")
    expect(page.locator("#gradient-text")).to_have_text("-2*x")
    gaps = page.evaluate("""() => [...document.querySelectorAll('#headline mo')]
        .filter(m => m.textContent === '\u2212' && m.getAttribute('form') === 'prefix')
        .map(m => m.nextElementSibling.getBoundingClientRect().left - m.getBoundingClientRect().right)""")
    assert len(gaps) == 2 and all(g < 2 for g in gaps), gaps
    # 1/2, not 0.5
    page.goto("/?expr=0.5*x'*A*x&wrt=x")
    expect(page.locator("#headline mfrac").first).to_be_visible()
    assert "0.5" not in page.locator("#headline").inner_text()
    assert page.locator("#headline mfrac").first.evaluate("f => f.textContent") == "12"
    shot(page, "12-typography")


# ---------------------------------------------------------------- a changed input
def test_a_paste_dims_the_result_and_verify_checks_the_new_expression(wide: Any) -> None:
    page = wide
    page.goto("/?expr=x'*A*y&wrt=A")
    expect(page.locator("#gradient-text")).to_have_text("x*y'")
    expect(page.locator("#result")).not_to_have_class(re.compile(r"\bstale\b"))
    page.evaluate("navigator.clipboard.writeText('norm_fro(X)')")
    page.locator("#expr").select_text()
    page.keyboard.press("Control+V")
    expect(page.locator("#expr")).to_have_value("norm_fro(X)")
    expect(page.locator("#result")).to_have_class(re.compile(r"\bstale\b"))  # dimmed at once
    expect(page.locator("#result")).to_have_css("opacity", "0.45")  # and looks it
    page.click("#verify")
    expect(page.locator("#check-badge")).to_have_text("✓ verified")
    expect(page.locator("#gradient-text")).to_have_text("X/norm_fro(X)")  # derived again first
    expect(page.locator("#check-line")).to_contain_text("∇X")
    expect(page.locator("#result")).not_to_have_class(re.compile(r"\bstale\b"))
    # typing dims it too, and typing it back undims it
    page.fill("#expr", "norm_fro(X) + 1")
    expect(page.locator("#result")).to_have_class(re.compile(r"\bstale\b"))
    page.fill("#expr", "norm_fro(X)")
    expect(page.locator("#result")).not_to_have_class(re.compile(r"\bstale\b"))


def test_an_empty_expression_says_so(wide: Any) -> None:
    page = wide
    page.goto("/")
    page.locator("#go").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#error")).to_be_visible()
    expect(page.locator("#error .error-kind")).to_have_text("Empty expression")
    expect(page.locator("#error .error-message")).to_contain_text("type an expression")


# ---------------------------------------------------------------- keyboard and history
def test_focus_stays_on_the_button_that_was_pressed(wide: Any) -> None:
    page = wide
    page.goto("/")
    page.fill("#expr", "x'*A*y")
    page.locator("input[name=wrt][value=A]").check()
    page.locator("#go").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#gradient-text")).to_have_text("x*y'")
    expect(page.locator("#go")).to_be_focused()
    page.locator("#verify").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#check-badge")).to_have_text("✓ verified")
    expect(page.locator("#verify")).to_be_focused()
    page.locator("#hessian-btn").focus()
    page.keyboard.press("Space")
    expect(page.locator("#hessian")).to_be_visible()
    expect(page.locator("#hessian-btn")).to_be_focused()


def test_back_walks_the_expressions_with_their_panels(wide: Any) -> None:
    page = wide
    page.goto("/")
    run(page, "x'*A*y", "A")
    expect(page.locator("#gradient-text")).to_have_text("x*y'")
    run(page, "norm_fro(X)", "X")
    expect(page.locator("#gradient-text")).to_have_text("X/norm_fro(X)")
    page.fill("#seed", "7")
    page.click("#verify")
    expect(page.locator("#check-line")).to_contain_text("seed 7")
    assert "check=7" in page.url
    run(page, "det(A)", "A")
    page.click("#hessian-btn")
    expect(page.locator("#hessian")).to_be_visible()

    page.go_back()
    expect(page.locator("#expr")).to_have_value("norm_fro(X)")
    expect(page.locator("#gradient-text")).to_have_text("X/norm_fro(X)")
    expect(page.locator("#check")).to_be_visible()  # the check panel comes back, at its seed
    expect(page.locator("#check-line")).to_contain_text("seed 7")
    expect(page.locator("#hessian")).to_be_hidden()
    page.go_back()
    expect(page.locator("#expr")).to_have_value("x'*A*y")
    expect(page.locator("#gradient-text")).to_have_text("x*y'")
    expect(page.locator("#check")).to_be_hidden()
    page.go_forward()
    page.go_forward()
    expect(page.locator("#expr")).to_have_value("det(A)")
    expect(page.locator("#hessian")).to_be_visible()
    assert "hessian=1" in page.url


def test_forward_pressed_twice_quickly_restores_the_last_entry_with_its_panels(wide: Any) -> None:
    """A second Forward before the first restore has its answers: the older restore stops (it would re-run what
    the box then holds, close the newer entry's Hessian and open its own check panel there)."""
    page = wide
    page.goto("/")
    run(page, "x'*A*y", "A")
    expect(page.locator("#gradient-text")).to_have_text("x*y'")
    run(page, "norm_fro(X)", "X")
    expect(page.locator("#gradient-text")).to_have_text("X/norm_fro(X)")
    page.click("#verify")
    expect(page.locator("#check")).to_be_visible()
    run(page, "det(A)", "A")
    page.click("#hessian-btn")
    expect(page.locator("#hessian")).to_be_visible()
    page.go_back()
    expect(page.locator("#check")).to_be_visible()
    page.go_back()
    expect(page.locator("#gradient-text")).to_have_text("x*y'")

    page.evaluate("""() => {  // every answer about norm_fro(X) arrives 800 ms late
        const fetch0 = window.fetch;
        window.fetch = (url, opts) => fetch0(url, opts).then(r => (opts && String(opts.body).includes("norm_fro"))
            ? new Promise(ok => setTimeout(() => ok(r), 800)) : r);
    }""")
    page.go_forward(wait_until="commit")
    page.wait_for_timeout(100)  # the restore of norm_fro(X) is waiting for its answer
    page.go_forward(wait_until="commit")
    expect(page.locator("#expr")).to_have_value("det(A)")
    expect(page.locator("#hessian")).to_be_visible()
    page.wait_for_timeout(1500)  # the late answers have come by now
    expect(page.locator("#expr")).to_have_value("det(A)")
    expect(page.locator("#hessian")).to_be_visible()
    expect(page.locator("#check")).to_be_hidden()
    assert "hessian=1" in page.url and "check=" not in page.url


# ---------------------------------------------------------------- copying
def test_copy_buttons_are_named_and_copy_latex(wide: Any) -> None:
    page = wide
    page.goto("/?expr=x'*A*x&wrt=x")
    expect(page.locator("#gradient-text")).to_be_visible()
    page.click("#code-box summary")
    for name in ("Copy the gradient as text", "Copy the gradient as LaTeX", "Copy the generated code",
                 "Copy the example that calls matdiff"):
        expect(page.get_by_role("button", name=name)).to_have_count(1)
    page.click("#copy-latex")
    expect(page.locator("#copy-latex")).to_have_text("Copied ✓")
    latex = page.evaluate("navigator.clipboard.readText()")
    assert r"A^{\top}" in latex and "x" in latex and "'" not in latex, latex
    page.click("#copy-text")
    assert page.evaluate("navigator.clipboard.readText()") == page.locator("#gradient-text").inner_text()
    page.click("#copy-code")
    code = page.evaluate("navigator.clipboard.readText()")
    assert "import numpy as _np" in code and "import matdiff" not in code  # with its imports, no matdiff
    assert "def value_and_grad(x, A)" in code


# ---------------------------------------------------------------- accessibility
CONTRAST_JS = """() => {
  const parse = c => { const m = c.match(/[\\d.]+/g).map(Number); return [m[0], m[1], m[2], m.length > 3 ? m[3] : 1]; };
  const lin = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  const lum = c => 0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2]);
  const over = (top, under) => [0, 1, 2].map(i => top[i] * top[3] + under[i] * (1 - top[3])).concat([1]);
  const background = el => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const bg = parse(getComputedStyle(e).backgroundColor);
      if (bg[3] > 0) layers.push(bg);
      if (bg[3] >= 1) break;
    }
    let c = [255, 255, 255, 1];
    for (const l of layers.reverse()) c = over(l, c);
    return c;
  };
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  while (walker.nextNode()) {
    const t = walker.currentNode;
    const el = t.parentElement;
    const shown = el.checkVisibility({opacityProperty: true, visibilityProperty: true});
    if (!t.textContent.trim() || seen.has(el) || !shown) continue;
    if (el.closest('button:disabled, option, .stale, math')) continue;
    seen.add(el);
    const bg = background(el);
    const fg = over(parse(getComputedStyle(el).color), bg);
    const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
    out.push({text: t.textContent.trim().slice(0, 40), cls: el.className, tag: el.tagName,
              ratio: (a + 0.05) / (b + 0.05)});
  }
  return out;
}"""


def test_headings_alttext_and_contrast(page: Any) -> None:
    page.goto("/?expr=norm2(A*x%20-%20b)%5E2&wrt=x")
    expect(page.locator("#gradient-text")).to_be_visible()
    page.click("#steps summary")
    page.click("#code-box summary")
    page.click("#verify")
    expect(page.locator("#check-badge")).to_have_text("✓ verified")
    page.select_option("select[data-var=A]", "matrix")  # a selected chip and its size, on the tinted background
    expect(page.locator("h1")).to_have_text("∂matdiff")
    headings = page.locator("h2, h3").all_text_contents()
    assert any("Gradient" in h for h in headings) and any("Derivation" in h for h in headings), headings
    assert any("Numerical check" in h.replace("\n", " ") for h in headings), headings
    # every formula is labelled in text: MathML alttext, or the line of pieces it is cut into
    unlabelled = page.evaluate("""() => [...document.querySelectorAll('math')].filter(m =>
        !m.getAttribute('alttext') && !m.closest('[role=math][aria-label]') && !m.closest('.steps')).length""")
    assert unlabelled == 0
    assert page.locator("#headline").get_attribute("aria-label").startswith("grad_x norm2(A*x - b)^2 = ")
    low = [r for r in page.evaluate(CONTRAST_JS) if r["ratio"] < 4.5]
    assert not low, low
    shot(page, f"13-contrast-{page.width}")
    # the error colours too
    page.fill("#expr", "tr(A*X")
    page.click("#go")
    expect(page.locator("#error")).to_be_visible()
    low = [r for r in page.evaluate(CONTRAST_JS) if r["ratio"] < 4.5]
    assert not low, low


# ---------------------------------------------------------------- types (items 1 and 2)
def test_the_types_assumed_are_shown(page: Any) -> None:
    page.goto("/?expr=norm2(A*x%20-%20b)%5E2&wrt=x")
    expect(page.locator("#types-line")).to_be_visible()
    expect(page.locator("#types-line")).to_contain_text("b: vector")
    expect(page.locator("#types-line .from-use")).to_contain_text("from A*x - b")
    expect(page.locator("#types-line")).to_contain_text("x: vector")
    shot(page, f"14-types-{page.width}")


def test_a_shape_error_is_marked_and_the_types_stay_choosable(page: Any) -> None:
    page.goto("/?expr=det(x*eye%20-%20A)&wrt=x&types=x:vector")
    expect(page.locator("#error .error-kind")).to_have_text("ShapeError")
    expect(page.locator("#error mark.at")).to_have_text("x*eye - A")  # the operands the error names
    expect(page.locator("#expr")).to_have_class(re.compile(r"\binvalid\b"))
    expect(page.locator("#expr")).to_have_js_property("selectionStart", 4)
    expect(page.locator("#expr")).to_have_js_property("selectionEnd", 13)
    expect(page.locator("select[data-var=x]")).to_be_visible()  # not hidden by the error
    shot(page, f"15-shape-error-{page.width}")
    page.select_option("select[data-var=x]", "scalar")
    expect(page.locator("#error")).to_be_hidden()
    page.click("#go")
    expect(page.locator("#gradient-text")).to_contain_text("adj")
