"""The page's Minimise panel (issue 19, "a page panel is welcome"): the API's ``solver`` job gives a stand-alone
solver script, which runs where matdiff is not importable and agrees with ``matdiff.minimize``; in Chromium the
panel shows the command, the script, a download named for the variable, and comes back with Back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import matdiff
from matdiff.web.jobs import JOBS, run_job
from test_minimize import run_script


def job(expr: str, wrt: str | None = None, types: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    return run_job("solver", {"expr": expr, "wrt": wrt, "types": types or {}, "seed": None, "definitions": []})


def _run_script(script: str, data: dict[str, Any], tmp: Path) -> dict[str, Any]:
    (tmp / "solve.py").write_text(script)
    np.savez(tmp / "data.npz", **data)
    done = run_script(tmp / "solve.py", "data.npz", "--out", "solution.npz")  # with import matdiff failing
    assert done.returncode == 0, done.stderr
    with np.load(tmp / "solution.npz") as z:
        return {k: z[k] for k in z.files}


def test_solver_job_is_listed_and_its_script_solves_ridge_with_types_from_use(tmp_path: Path) -> None:
    assert "solver" in JOBS
    status, r = job("norm2(A*x - y)^2 + lam*x'*x", "x")  # lam: a scalar from use (the objective is a scalar)
    assert status == 200, r
    assert r["filename"] == "solve_x.py" and r["command"] == "python solve_x.py data.npz --out solution.npz"
    assert {d["name"]: d["type"] for d in r["data"]}["lam"] == "scalar"
    assert "import matdiff" not in r["script"] and "from matdiff" not in r["script"]
    assert r["lines"] == r["script"].count("\n")
    rng = np.random.default_rng(4)
    A, y = rng.standard_normal((25, 6)), rng.standard_normal(25)
    got = _run_script(r["script"], {"A": A, "y": y, "lam": 0.3}, tmp_path)
    want = np.linalg.solve(A.T @ A + 0.3 * np.eye(6), A.T @ y)
    assert bool(got["success"])
    np.testing.assert_allclose(got["x"], want, atol=1e-6)
    res = matdiff.minimize("norm2(A*x - y)^2 + lam*x'*x", "x", values={"A": A, "y": y, "lam": 0.3})
    np.testing.assert_allclose(got["x"], res.x["x"], atol=1e-6)


def test_solver_job_over_an_spd_variable_keeps_its_declaration(tmp_path: Path) -> None:
    status, r = job("logdet(S) + tr(inv(S)*C)", "S", {"S": "spd"})
    assert status == 200, r
    rng = np.random.default_rng(5)
    b = rng.standard_normal((4, 4))
    C = b @ b.T / 4 + np.eye(4)
    got = _run_script(r["script"], {"C": C}, tmp_path)
    assert bool(got["success"])
    np.testing.assert_allclose(got["S"], C, rtol=1e-5, atol=1e-6)  # the MLE is the sample covariance


def test_solver_job_refuses_what_is_not_a_scalar_and_says_so() -> None:
    status, r = job("A*x", "x")
    assert status == 400 and r["error"]["kind"] == "ShapeError" and "scalar" in r["error"]["message"]


# ------------------------------------------------------------------------------ the panel, in Chromium
sync_api = pytest.importorskip("playwright.sync_api")
import test_web_browser  # noqa: E402  - skips this part where there is no browser

expect = sync_api.expect
browser = test_web_browser.browser
live_server = test_web_browser.live_server


@pytest.fixture()
def page(browser: Any, live_server: str) -> Iterator[Any]:  # noqa: F811
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900}, accept_downloads=True)
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    assert not errors, errors
    context.close()


def test_minimise_panel_gives_the_command_the_script_and_a_download(page: Any, tmp_path: Path) -> None:
    page.goto("/")
    page.fill("#expr", "norm2(A*x - y)^2 + lam*x'*x")  # lam: a scalar from use (a loss)
    page.locator("input[name=wrt][value='x']").check()
    page.click("#go")
    expect(page.locator("#solver-btn")).to_be_visible()
    page.click("#solver-btn")
    expect(page.locator("#solver")).to_be_visible()
    expect(page.locator("#solver-command")).to_have_text("python solve_x.py data.npz --out solution.npz")
    expect(page.locator("#solver-line")).to_contain_text("lam: scalar")
    assert "solver=1" in page.url
    link = page.locator("#solver-download")
    expect(link).to_have_attribute("download", "solve_x.py")
    with page.expect_download() as info:
        link.click()
    path = tmp_path / "solve_x.py"
    info.value.save_as(path)
    script = path.read_text()
    assert script == page.locator("#solver-script").text_content()
    rng = np.random.default_rng(6)
    A, y = rng.standard_normal((20, 4)), rng.standard_normal(20)
    got = _run_script(script, {"A": A, "y": y, "lam": 1.0}, tmp_path)
    np.testing.assert_allclose(got["x"], np.linalg.solve(A.T @ A + np.eye(4), A.T @ y), atol=1e-6)
    test_web_browser.shot(page, "minimise-panel-1280")
    page.click("#solver summary")
    from test_web_page_first_hour import CONTRAST_JS
    low = [r for r in page.evaluate(CONTRAST_JS) if r["ratio"] < 4.5]
    assert not low, low

    # a Jacobian (a matrix-valued expression) has nothing to minimise: no button
    page.fill("#expr", "A*x")
    page.click("#go")
    expect(page.locator("#solver-btn")).to_be_hidden()
    # Back brings the panel back with its expression
    page.go_back()
    expect(page.locator("#expr")).to_have_value("norm2(A*x - y)^2 + lam*x'*x")
    expect(page.locator("#solver")).to_be_visible()
