"""The page in a real headless Chromium against a live server on 127.0.0.1 (skipped where there is none).

Needs Debian's chromium (/usr/bin/chromium, or MATDIFF_CHROMIUM) and ``playwright`` (pinned 1.65.2, which
drives Chromium 156). Screenshots go to tmp/artifacts/ (or MATDIFF_ARTIFACTS): look at them.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("MATDIFF_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--disable-gpu", "--disable-quic",
    # no DNS lookup leaves the machine; 127.0.0.1 stays reachable
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost",
]
ARTIFACTS = Path(os.environ.get("MATDIFF_ARTIFACTS", Path(__file__).resolve().parents[1] / "tmp" / "artifacts"))

if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
uvicorn = pytest.importorskip("uvicorn", reason="uvicorn is not installed (the web extra)")
pytest.importorskip("starlette", reason="starlette is not installed (the web extra)")
pytest.importorskip("latex2mathml", reason="latex2mathml is not installed (the web extra)")

expect = sync_api.expect
expect.set_options(timeout=30_000)  # a derivation in a fresh worker on a loaded machine can take seconds


@pytest.fixture(scope="module")
def live_server() -> Iterator[str]:
    """``matdiff serve``'s app under uvicorn on a free loopback port."""
    from matdiff.web.app import create_app

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        try:
            b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        except Exception as err:  # noqa: BLE001 - a broken browser install is a skip, not a failure
            pytest.skip(f"Chromium at {CHROMIUM} does not start: {err}")
        yield b
        b.close()


@pytest.fixture()
def page(browser: Any, live_server: str) -> Iterator[Any]:
    """A fresh page; records every URL it asks for, and fails on a script error."""
    context = browser.new_context(base_url=live_server, viewport={"width": 1100, "height": 900},
                                  device_scale_factor=1)
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    pg.requested = []  # type: ignore[attr-defined]
    pg.js_errors = []  # type: ignore[attr-defined]
    pg.on("request", lambda r: pg.requested.append(r.url))
    pg.on("pageerror", lambda e: pg.js_errors.append(str(e)))
    yield pg
    assert not pg.js_errors, pg.js_errors
    context.close()


def shot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def differentiate(page: Any, expr: str, wrt: str) -> None:
    page.fill("#expr", expr)
    radio = page.locator(f"input[name=wrt][value='{wrt}']")
    radio.wait_for()
    radio.check()
    page.click("#go")


def test_gradient_of_the_frobenius_norm_with_steps_and_verification(page: Any, live_server: str) -> None:
    page.goto("/")
    expect(page.locator("#expr")).to_be_focused()
    differentiate(page, "norm_fro(X)", "X")

    headline = page.locator("#headline math").first
    expect(headline).to_be_visible()
    # X over ||X||_F: a fraction whose numerator is X and whose denominator is the norm of X
    frac = page.locator("#headline math mfrac").last
    expect(frac).to_be_visible()
    numerator, denominator = frac.evaluate("f => [f.children[0].textContent, f.children[1].textContent]")
    assert numerator.strip() == "X"
    assert "‖" in denominator and "X" in denominator
    box = frac.bounding_box()
    assert box and box["height"] > 30  # drawn as a built-up fraction, not a line of text
    expect(page.locator("#gradient-text")).to_have_text("X/norm_fro(X)")
    assert page.evaluate("document.fonts.check('20px \"matdiff math\"')")  # the packaged font is in use
    assert "expr=norm_fro" in page.url and "wrt=X" in page.url
    shot(page, "01-gradient")

    expect(page.locator("#steps-body")).not_to_be_visible()
    page.click("#steps summary")
    expect(page.locator("#steps")).to_have_attribute("open", "")
    rules = page.locator("#steps-body .rule span")
    expect(rules.first).to_be_visible()
    assert rules.count() >= 3
    expect(page.locator("#steps-body")).to_contain_text("chain rule")
    shot(page, "02-steps")

    page.click("#code-box summary")
    expect(page.locator("#code")).to_contain_text("def value_and_grad(X)")
    page.click("#copy-code")
    expect(page.locator("#copy-code")).to_have_text("Copied ✓")

    page.click("#verify")
    plot = page.locator("#check-plot")
    expect(plot).to_have_attribute("src", re.compile(r"^data:image/png;base64,"))
    expect(page.locator("#check-badge")).to_have_text("✓ verified")
    assert plot.evaluate("img => img.complete && img.naturalWidth > 300")
    plot.scroll_into_view_if_needed()
    shot(page, "03-verified")

    page.click("#hessian-btn")
    expect(page.locator("#hessian-math math").first).to_be_visible()


def test_parse_error_is_marked_where_it_is(page: Any) -> None:
    page.goto("/")
    page.fill("#expr", "tr(A*X")
    page.click("#go")
    error = page.locator("#error")
    expect(error).to_be_visible()
    expect(error.locator(".error-kind")).to_have_text("ParseError")
    expect(error.locator(".error-message")).to_contain_text("expected ')'")
    # position 6: the end of the text, where the ')' is missing
    expect(error.locator(".before")).to_have_text("tr(A*X")
    expect(error.locator("mark.at")).to_have_class(re.compile(r"\bend\b"))
    expect(error.locator(".after")).to_have_text("")
    expect(page.locator("#expr")).to_have_class(re.compile(r"\binvalid\b"))
    expect(page.locator("#expr")).to_have_js_property("selectionStart", 6)  # the cursor is put there
    shot(page, "04-parse-error")

    page.fill("#expr", "x + * y")
    expect(error.locator("mark.at")).to_have_text("*")  # shown while typing, too
    expect(error.locator(".before")).to_have_text("x + ")
    expect(error.locator(".after")).to_have_text(" y")
    shot(page, "05-parse-error-inside")

    page.fill("#expr", "x'*x")
    expect(error).to_be_hidden()
    expect(page.locator("#expr")).not_to_have_class(re.compile(r"\binvalid\b"))


def test_examples_types_and_the_url(page: Any, live_server: str) -> None:
    page.goto("/")
    page.click("button.example:has-text('logdet(S)')")
    expect(page.locator("#headline math").first).to_be_visible()
    expect(page.locator("select[data-var=S]")).to_have_value("spd")
    expect(page.locator("select[data-var=C]")).to_have_value("matrix")
    expect(page.locator("#gradient-text")).to_contain_text("inv(S)")
    assert "types=S%3Aspd" in page.url or "types=S:spd" in page.url
    page.click("#steps summary")
    expect(page.locator("#steps-body")).to_contain_text("spd")
    shot(page, "06-example-spd")

    page.goto("/?expr=det(x*eye%20-%20A)&wrt=x&types=x:scalar")
    expect(page.locator("#headline math").first).to_be_visible()
    expect(page.locator("#expr")).to_have_value("det(x*eye - A)")
    expect(page.locator("select[data-var=x]")).to_have_value("scalar")
    expect(page.locator("input[name=wrt][value=x]")).to_be_checked()
    expect(page.locator("#gradient-text")).to_contain_text("adj")

    # a type changed on the page re-derives
    page.goto("/?expr=x'*A*y&wrt=A")
    expect(page.locator("#gradient-text")).to_have_text("x*y'")
    page.select_option("select[data-var=A]", "symmetric")
    expect(page.locator("#gradient-text")).not_to_have_text("x*y'")
    assert "types=A" in page.url


def test_definitions_box(page: Any) -> None:
    page.goto("/")
    page.click("button.example:has-text('soft')")
    expect(page.locator("#defs")).to_have_value("soft(U) = log(1 + exp(U))")
    expect(page.locator("#gradient-text")).to_have_text("X'*sigmoid(X*w)")
    assert "defs=" in page.url
    page.click("#steps summary")
    expect(page.locator("#steps-body")).to_contain_text("definition: soft(U) = log(1 + exp(U))")
    shot(page, "08-definitions")
    # a definition that does not parse is named, and the box marked
    page.fill("#defs", "soft(U) = log(1 + exp(U)\n")
    page.click("#go")
    expect(page.locator("#error .error-message")).to_contain_text("definition 1:")
    expect(page.locator("#defs")).to_have_class(re.compile("invalid"))
    # reloaded from its URL, the definition comes back
    page.goto("/?expr=sum(sq1(x))&wrt=x&defs=sq1(U)%20%3D%20U.%5E2%20%2B%201")
    expect(page.locator("#gradient-text")).to_have_text("2*x")


def test_jacobian_of_a_matrix_valued_expression(page: Any) -> None:
    page.goto("/")
    page.click("button.example:has-text('A*X*B')")
    expect(page.locator("#vec-form math").first).to_be_visible()
    expect(page.locator("#gradient-text")).to_have_text("dF = A*dX*B")
    expect(page.locator("#vec-form")).to_contain_text("⊗")
    expect(page.locator("#hessian-btn")).to_be_hidden()  # a Hessian is of a scalar function
    # the Jacobian gets its code and its check too
    page.click("#code-box summary")
    expect(page.locator("#code")).to_contain_text("def jvp_X(A, X, B, _d_X)")
    page.click("#verify")
    expect(page.locator("#check-badge")).to_have_text("✓ verified")
    expect(page.locator("#check-line")).to_contain_text("dF")
    shot(page, "07-jacobian")


def test_errors_from_the_engine_and_nothing_from_outside(page: Any, live_server: str) -> None:
    page.goto("/")
    differentiate(page, "A*x", "x")  # not a scalar: the page shows the Jacobian instead
    expect(page.locator("#vec-form")).to_be_visible()
    page.goto("/?expr=x'*A*y&wrt=A&types=x:vector(3),A:matrix(2,2)")
    expect(page.locator("#error .error-kind")).to_have_text("ShapeError")
    # the operands the error names are marked in the text, as a parse error's character is
    expect(page.locator("#error .error-source")).to_be_visible()
    expect(page.locator("#error mark.at")).to_have_text("x'*A")
    expect(page.locator("#result")).to_be_hidden()
    outside = [u for u in page.requested if not (u.startswith(live_server) or u.startswith("data:"))]
    assert not outside, outside


def test_narrow_screen_does_not_overflow(browser: Any, live_server: str) -> None:
    context = browser.new_context(base_url=live_server, viewport={"width": 390, "height": 844})
    pg = context.new_page()
    try:
        pg.goto("/?expr=logdet(S)%20%2B%20tr(inv(S)*C)&wrt=S&types=S:spd")
        expect(pg.locator("#headline math").first).to_be_visible()
        pg.click("#steps summary")
        width, inner = pg.evaluate("[document.documentElement.scrollWidth, innerWidth]")
        assert width <= inner  # long formulas scroll inside their own boxes
        shot(pg, "08-narrow")
    finally:
        context.close()
