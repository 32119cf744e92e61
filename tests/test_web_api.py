"""The JSON API behind the page (matdiff serve): answers, every error path, the limits, the helpers."""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")
pytest.importorskip("latex2mathml")

with warnings.catch_warnings():  # starlette 1.x prefers httpx2 but works with httpx
    warnings.filterwarnings("ignore", message=".*httpx2.*")
    from starlette.testclient import TestClient  # noqa: E402

import matdiff  # noqa: E402
from matdiff.web.app import STATIC, create_app  # noqa: E402
from matdiff.web.limits import Limits  # noqa: E402
from matdiff.web.worker import Crashed  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:.*httpx2.*")

BASE = "http://127.0.0.1"


def client_for(app: Any, **kw: Any) -> TestClient:
    return TestClient(app, base_url=BASE, **kw)


@pytest.fixture(scope="module")
def client():
    with client_for(create_app()) as c:
        yield c


def post(client: TestClient, endpoint: str, body: Any) -> Any:
    return client.post(f"/api/{endpoint}", json=body)


def strict_json(text: str) -> Any:
    """JSON as a browser reads it: NaN and Infinity are not JSON."""
    def bad(name: str) -> Any:
        raise AssertionError(f"{name} in a JSON answer")
    return json.loads(text, parse_constant=bad)


def error_of(response: Any, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert "Traceback" not in response.text
    err = strict_json(response.text)["error"]
    assert err["kind"] == kind, err
    assert isinstance(err["message"], str) and err["message"]
    return err


# ---------------------------------------------------------------- the page and its files
def test_page_is_served_with_a_strict_policy(client):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "/static/app.js" in r.text and "/static/style.css" in r.text
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "connect-src 'self'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"


def test_nothing_is_loaded_from_outside():
    for path in STATIC.rglob("*"):
        if path.suffix in (".html", ".js", ".css"):
            urls = re.findall(r"(?:https?:)?//[A-Za-z0-9.-]+\.[a-z]{2,}", path.read_text(encoding="utf-8"))
            assert not urls, f"{path.name} loads {urls}"


def test_math_font_and_its_licence_are_served(client):
    font = client.get("/static/fonts/STIXTwoMath-Regular.woff2")
    assert font.status_code == 200 and font.content[:4] == b"wOF2"
    licence = client.get("/static/fonts/OFL.txt")
    assert licence.status_code == 200 and "SIL OPEN FONT LICENSE Version 1.1" in licence.text
    css = client.get("/static/style.css").text
    assert "STIXTwoMath-Regular.woff2" in css and "math {" in css


def test_api_index_lists_endpoints_and_limits(client):
    r = client.get("/api")
    assert r.status_code == 200
    data = r.json()
    assert {"POST /api/grad", "POST /api/check", "POST /api/variables", "POST /api/hessian",
            "POST /api/jacobian"} <= set(data["endpoints"])
    assert data["limits"]["max_expr_chars"] == Limits().max_expr_chars


# ---------------------------------------------------------------- answers
def test_grad_of_the_frobenius_norm(client):
    r = post(client, "grad", {"expr": "norm_fro(X)", "wrt": "X"})
    assert r.status_code == 200, r.text
    data = strict_json(r.text)
    assert data["gradient"] == "X/norm_fro(X)"
    matdiff.parse(data["gradient"])  # re-parseable
    assert data["wrt"] == "X" and data["kind"] == "matrix"
    assert "<mfrac>" in data["mathml"] and "&#x02016;" in data["mathml"]  # X over ||X||
    assert data["equation"]["mathml"].startswith("<math") and "&#x02207;" in data["equation"]["mathml"]
    assert data["differential"]["text"].startswith("df = ")
    assert len(data["steps"]) >= 3
    for step in data["steps"]:
        assert {"text", "latex", "mathml", "lhs_mathml", "rhs_mathml", "rule", "note"} <= set(step)
        assert step["mathml"].startswith("<math")
    assert any("chain rule" in s["rule"] for s in data["steps"])
    assert "def value_and_grad(X)" in data["code"]
    assert "matdiff.compile" in data["usage"]
    assert data["variables"] == [{"name": "X", "kind": "matrix", "default_kind": "matrix", "declared": None,
                                  "shape": ["rows(X)", "cols(X)"]}]


def test_the_differential_d_is_upright(client):
    data = post(client, "grad", {"expr": "norm_fro(X)", "wrt": "X"}).json()
    assert '<mi mathvariant="normal">d</mi>' in data["differential"]["mathml"]
    assert "<mo>tr</mo>" not in data["differential"]["mathml"]  # a function name, not an operator


@pytest.mark.parametrize("expr, wrt, types, gradient", [
    ("x'*A*y", "A", None, "x*y'"),
    ("det(A)", "A", None, None),
    ("det(x*eye - A)", "x", {"x": "scalar"}, None),
    ("logdet(S) + tr(inv(S)*C)", "S", {"S": "spd"}, None),
])
def test_grad_of_the_seed_examples(client, expr, wrt, types, gradient):
    body = {"expr": expr, "wrt": wrt}
    if types:
        body["types"] = types
    data = post(client, "grad", body).json()
    expected = matdiff.grad(expr, wrt, types)
    assert data["gradient"] == str(expected.gradient)
    if gradient:
        assert data["gradient"] == gradient
    assert data["latex"] == expected.latex
    assert data["kind"] == (types or {}).get(wrt, expected.var.kind)


def test_wrt_defaults_to_the_first_variable(client):
    data = post(client, "grad", {"expr": "x'*A*y"}).json()
    assert data["wrt"] == "x" and data["gradient"] == str(matdiff.grad("x'*A*y", "x").gradient)


def test_variables_follow_the_naming_convention_and_the_types(client):
    data = post(client, "variables", {"expr": "x'*A*y + a"}).json()
    assert [(v["name"], v["kind"]) for v in data["variables"]] == [
        ("x", "vector"), ("A", "matrix"), ("y", "vector"), ("a", "scalar")]
    assert data["output"]["kind"] == "scalar"
    data = post(client, "variables", {"expr": "x*A", "types": {"x": "scalar"}}).json()
    x = data["variables"][0]
    assert (x["name"], x["kind"], x["default_kind"], x["declared"]) == ("x", "scalar", "vector", "scalar")
    assert data["output"]["kind"] == "matrix"


def test_hessian_of_a_quadratic_form_is_a_matrix(client):
    data = post(client, "hessian", {"expr": "x'*A*x", "wrt": "x"}).json()
    assert data["form"] == "matrix"
    assert data["hessian"]["text"].endswith("A + A'")
    assert data["steps"] and data["hessian"]["mathml"].startswith("<math")


def test_hessian_for_a_matrix_variable_is_a_linear_map_with_its_vec_form(client):
    data = post(client, "hessian", {"expr": "logdet(S)", "wrt": "S", "types": {"S": "spd"}}).json()
    assert data["form"] == "linear map"
    assert "dS" in data["hessian"]["text"]
    assert data["vec"] is not None and "⊗" in data["vec"]["text"]


def test_jacobian_of_a_matrix_product(client):
    data = post(client, "jacobian", {"expr": "A*X*B", "wrt": "X"}).json()
    assert data["differential"]["text"] == "dF = A*dX*B"
    assert "⊗" in data["vec"]["text"] and data["output"]["kind"] == "matrix"
    assert data["steps"]


def test_check_gives_the_figures_and_the_plot(client):
    r = post(client, "check", {"expr": "norm_fro(X)", "wrt": "X"})
    assert r.status_code == 200, r.text
    data = strict_json(r.text)
    assert data["ok"] is True and data["seed"] == 0
    assert data["method"] in ("complex", "central", "richardson", "forward")
    assert data["max_rel_error"] <= data["tolerance"]
    assert data["details"] and "summary" in data
    sweep = data["sweep"]
    assert len(sweep["h"]) > 5 and all(len(v) == len(sweep["h"]) for v in sweep["errors"].values())
    assert data["plot"].startswith("data:image/png;base64,")
    png = base64.b64decode(data["plot"].split(",", 1)[1])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_check_of_an_spd_example_with_a_seed(client):
    data = post(client, "check", {"expr": "logdet(S) + tr(inv(S)*C)", "wrt": "S", "types": {"S": "spd"},
                                  "seed": 3}).json()
    assert data["ok"] is True and data["seed"] == 3


# ---------------------------------------------------------------- errors from matdiff
def test_parse_error_gives_the_position(client):
    err = error_of(post(client, "grad", {"expr": "tr(A*X", "wrt": "X"}), 400, "ParseError")
    assert err["position"] == 6 and err["field"] == "expr"
    err = error_of(post(client, "grad", {"expr": "x + * y", "wrt": "x"}), 400, "ParseError")
    assert err["position"] == 4
    err = error_of(post(client, "variables", {"expr": "x $ y"}), 400, "ParseError")
    assert err["position"] == 2


def test_shape_error_names_the_sizes(client):
    err = error_of(post(client, "grad", {"expr": "x'*A*y", "wrt": "A",
                                         "types": {"x": "vector(3)", "A": "matrix(2,2)"}}), 400, "ShapeError")
    assert "3" in err["message"] and "2" in err["message"]
    error_of(post(client, "grad", {"expr": "A*x", "wrt": "x"}), 400, "ShapeError")  # not a scalar


def test_unknown_variable_and_unknown_type(client):
    err = error_of(post(client, "grad", {"expr": "norm_fro(X)", "wrt": "Y"}), 400, "MatdiffError")
    assert "Y" in err["message"]
    err = error_of(post(client, "grad", {"expr": "norm_fro(X)", "types": {"X": "tensor"}}), 400, "ParseError")
    assert "tensor" in err["message"] and "position" not in err


def test_domain_error_in_check(client):
    err = error_of(post(client, "check", {"expr": "logdet(-X*X')", "wrt": "X"}), 400, "DomainError")
    assert "logdet" in err["message"]


# ---------------------------------------------------------------- errors in the request
@pytest.mark.parametrize("body, field", [
    ([1, 2], None),
    ("norm_fro(X)", None),
    ({}, "expr"),
    ({"expr": 3}, "expr"),
    ({"expr": ""}, "expr"),
    ({"expr": "   "}, "expr"),
    ({"expr": "norm_fro(X)", "wrt": ["X"]}, "wrt"),
    ({"expr": "norm_fro(X)", "wrt": "X-1"}, "wrt"),
    ({"expr": "norm_fro(X)", "types": "X:spd"}, "types"),
    ({"expr": "norm_fro(X)", "types": {"X": 3}}, "types"),
    ({"expr": "norm_fro(X)", "types": {"1X": "spd"}}, "types"),
    ({"expr": "norm_fro(X)", "seed": "zero"}, "seed"),
    ({"expr": "norm_fro(X)", "seed": -1}, "seed"),
    ({"expr": "norm_fro(X)", "seed": True}, "seed"),
    ({"expr": "norm_fro(X)", "values": {"X": [[1]]}}, "values"),
])
def test_wrong_types_in_the_request(client, body, field):
    err = error_of(post(client, "grad", body), 400, "RequestError")
    assert err.get("field") == field


def test_bad_json(client):
    r = client.post("/api/grad", content=b'{"expr": "norm_fro(X)",', headers={"content-type": "application/json"})
    assert "not JSON" in error_of(r, 400, "RequestError")["message"]
    r = client.post("/api/grad", content=b"\xff\xfe", headers={"content-type": "application/json"})
    error_of(r, 400, "RequestError")
    r = client.post("/api/grad", content=b"[" * 100_00 + b"]" * 100_00, headers={"content-type": "application/json"})
    assert r.status_code in (400, 413)


def test_wrong_content_type(client):
    r = client.post("/api/grad", content=b'{"expr": "norm_fro(X)"}', headers={"content-type": "text/plain"})
    error_of(r, 415, "RequestError")


def test_body_too_large(client):
    big = {"expr": "norm_fro(X)", "types": {f"X{i}": "matrix" for i in range(2000)}}
    err = error_of(post(client, "grad", big), 413, "LimitError")
    assert "limit" in err["message"]


def test_body_too_large_without_a_length(client):
    def chunks():
        for _ in range(40):
            yield b" " * 1024
    r = client.post("/api/grad", content=chunks(), headers={"content-type": "application/json"})
    error_of(r, 413, "LimitError")


def test_expression_too_long(client):
    expr = "+".join(["x'*x"] * 300)
    err = error_of(post(client, "grad", {"expr": expr, "wrt": "x"}), 400, "LimitError")
    assert err["field"] == "expr" and str(Limits().max_expr_chars) in err["message"]


def test_too_many_types_and_sizes_too_large(client):
    err = error_of(post(client, "check", {"expr": "norm_fro(X)", "types": {"X": "matrix(100000,2)"}}),
                   400, "LimitError")
    assert err["field"] == "types"
    many = {f"X{i}": "matrix" for i in range(Limits().max_types + 1)}
    error_of(post(client, "grad", {"expr": "norm_fro(X)", "types": many}), 400, "LimitError")


def test_unknown_endpoint_and_method(client):
    err = error_of(post(client, "integrate", {"expr": "x"}), 404, "NotFound")
    assert "/api/grad" in err["message"]
    error_of(client.get("/api/grad"), 405, "MethodNotAllowed")
    error_of(client.get("/nowhere"), 404, "NotFound")


def test_foreign_host_is_refused(client):
    r = client.get("/", headers={"host": "attacker.example:8765"})
    error_of(r, 400, "RequestError")
    assert client.get("/", headers={"host": "localhost:8765"}).status_code == 200
    assert client.get("/", headers={"host": "[::1]:8765"}).status_code == 200


# ---------------------------------------------------------------- time, concurrency, crashes
def test_timeout_stops_the_worker_and_the_pool_recovers():
    app = create_app(Limits(timeout_s=0.001, workers=1))
    with client_for(app) as c:
        err = error_of(post(c, "check", {"expr": "norm_fro(X)", "wrt": "X"}), 400, "Timeout")
        assert "stopped" in err["message"]
        status, body = app.state.pool.run("grad", {"expr": "norm_fro(X)", "wrt": "X", "types": {}, "seed": None},
                                          timeout=60)
        assert status == 200 and body["gradient"] == "X/norm_fro(X)"


def test_full_pool_answers_429():
    app = create_app(Limits(workers=1, queue_wait_s=0.05, timeout_s=60))
    pool = app.state.pool
    with client_for(app) as c:
        post(c, "variables", {"expr": "x"})  # the worker is up
        results: list[Any] = []
        slow = threading.Thread(target=lambda: results.append(
            post(c, "check", {"expr": "logdet(S) + tr(inv(S)*C)", "wrt": "S", "types": {"S": "spd"}})))
        slow.start()
        deadline = time.monotonic() + 30
        while pool.busy == 0 and time.monotonic() < deadline:
            time.sleep(0.001)
        r = post(c, "grad", {"expr": "norm_fro(X)", "wrt": "X"})
        slow.join(timeout=60)
        if pool.busy == 0 and r.status_code == 200:  # pragma: no cover - the check finished first
            pytest.skip("the slow request finished before the second one arrived")
        error_of(r, 429, "Busy")
        assert r.headers["retry-after"] == "1"
        assert results and results[0].status_code == 200


class _FailingPool:
    """A pool whose run fails the way a bug or a dead worker would."""

    def __init__(self, exc: Exception):
        self.exc = exc

    def run(self, *args: Any, **kw: Any) -> Any:
        raise self.exc

    def start(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_a_bug_answers_500_json_without_a_traceback():
    app = create_app(pool=_FailingPool(RuntimeError("boom: internal detail")))  # type: ignore[arg-type]
    with client_for(app, raise_server_exceptions=False) as c:
        err = error_of(post(c, "grad", {"expr": "norm_fro(X)"}), 500, "InternalError")
        assert "boom" not in err["message"]


def test_a_crashed_worker_answers_500_json():
    app = create_app(pool=_FailingPool(Crashed("the worker process stopped unexpectedly")))  # type: ignore[arg-type]
    with client_for(app) as c:
        error_of(post(c, "grad", {"expr": "norm_fro(X)"}), 500, "InternalError")


def test_a_worker_killed_from_outside_is_replaced():
    app = create_app(Limits(workers=1, timeout_s=60))
    pool = app.state.pool
    with client_for(app) as c:
        assert post(c, "variables", {"expr": "x"}).status_code == 200
        for w in list(pool._idle):
            w.proc.kill()
            w.proc.join(5)
        assert post(c, "grad", {"expr": "norm_fro(X)", "wrt": "X"}).status_code == 200


def test_run_job_turns_any_exception_into_data():
    from matdiff.web.jobs import run_job

    status, body = run_job("grad", {"expr": "norm_fro(X)"})  # no "types": a bug in the caller
    assert status == 500 and body["error"]["kind"] == "InternalError"
    status, body = run_job("grad", {"expr": "(" * 5000 + "x" + ")" * 5000, "wrt": "x", "types": {}})
    assert status == 400 and body["error"]["kind"] in ("LimitError", "ParseError")


# ---------------------------------------------------------------- the server and the command line
def test_serve_binds_loopback_quietly_and_warns_loudly_otherwise(monkeypatch):
    import io

    import uvicorn

    from matdiff.web import server

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(kw))
    out = io.StringIO()
    server.serve(out=out)
    assert calls[-1]["host"] == "127.0.0.1" and calls[-1]["port"] == 8765
    assert "WARNING" not in out.getvalue() and "http://127.0.0.1:8765/" in out.getvalue()
    out = io.StringIO()
    server.serve(host="0.0.0.0", port=9000, out=out)
    assert calls[-1]["host"] == "0.0.0.0" and "WARNING" in out.getvalue() and "0.0.0.0" in out.getvalue()
    assert server.allowed_hosts("0.0.0.0") == ["*"]
    assert "192.168.1.5" in server.allowed_hosts("192.168.1.5")
    assert server.is_loopback("127.0.0.1") and not server.is_loopback("0.0.0.0")


def test_serve_subcommand_parser():
    import argparse

    from matdiff.web.cli_serve import add_serve_parser, cmd_serve

    ap = argparse.ArgumentParser()
    add_serve_parser(ap.add_subparsers(dest="command"))
    args = ap.parse_args(["serve"])
    assert (args.host, args.port, args.open, args.run) == ("127.0.0.1", 8765, False, cmd_serve)
    args = ap.parse_args(["serve", "--host", "0.0.0.0", "--port", "9000", "--open", "--timeout", "3"])
    assert (args.host, args.port, args.open, args.timeout) == ("0.0.0.0", 9000, True, 3.0)
    assert ap.parse_args(["serve", "--read-timeout", "2.5"]).read_timeout == 2.5
    assert ap.parse_args(["serve"]).read_timeout == Limits.read_timeout_s
    with pytest.raises(SystemExit):
        ap.parse_args(["serve", "--timeout", "-1"])
    with pytest.raises(SystemExit):
        ap.parse_args(["serve", "--read-timeout", "0"])


def test_serve_gives_uvicorn_the_read_deadline_and_a_connection_limit(monkeypatch):
    import io

    import uvicorn

    from matdiff.web import server
    from matdiff.web.protocol import HeaderDeadlineProtocol

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(kw))
    server.serve(limits=Limits(read_timeout_s=2.5, max_connections=7), out=io.StringIO())
    proto = calls[-1]["http"]
    assert issubclass(proto, HeaderDeadlineProtocol) and proto.read_timeout_s == 2.5
    assert calls[-1]["limit_concurrency"] == 7


def _request(receive: Any) -> Any:
    from starlette.requests import Request

    scope = {"type": "http", "method": "POST", "path": "/api/grad", "headers": [(b"content-type", b"application/json")],
             "query_string": b""}
    return Request(scope, receive)


def test_a_body_that_does_not_arrive_in_time_answers_408():
    import anyio

    from matdiff.web.app import read_body
    from matdiff.web.errors import ApiError

    async def trickle() -> dict[str, Any]:  # one byte, then nothing more
        if not sent:
            sent.append(1)
            return {"type": "http.request", "body": b"{", "more_body": True}
        await anyio.sleep(60)
        raise AssertionError("read_body waited past its deadline")

    sent: list[int] = []
    t0 = time.monotonic()
    with pytest.raises(ApiError) as info:
        anyio.run(read_body, _request(trickle), 1000, 0.2)
    assert info.value.status == 408 and info.value.kind == "Timeout" and "0.2 s" in info.value.message
    assert "1 bytes" in info.value.message and info.value.headers == {"Connection": "close"}
    assert time.monotonic() - t0 < 5


def test_a_client_that_goes_away_mid_body_is_not_a_server_error():
    import anyio

    from matdiff.web.app import Gone, read_body

    async def gone() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    with pytest.raises(Gone):
        anyio.run(read_body, _request(gone), 1000, 5.0)


# ---------------------------------------------------------------- rendering
def test_mathml_rendering_details():
    from matdiff.display.render import _lhs_latex, mathml

    assert '<mi mathvariant="normal">d</mi>' in mathml(r"\mathrm{d}X")
    out = mathml(r"\log\det\left(S\right) + \operatorname{tr}\left(X\right)")
    assert "<mi>det</mi>" in out and "<mi>tr</mi>" in out and "<mspace" in out
    assert 'display="block"' in mathml("x", display=True)
    assert _lhs_latex("vec(d(grad_X f))") == r"\operatorname{vec}(\mathrm{d}(\nabla_{X} f))"
    assert _lhs_latex("df") == r"\mathrm{d}f" and _lhs_latex("H_x") == "H_{x}"


# ---------------------------------------------------------------- notebook display
def test_notebook_html_of_a_gradient():
    from matdiff.display.notebook import gradient_html

    html = gradient_html(matdiff.grad("norm_fro(X)", "X"))
    assert html.count("<math") >= 3 and "<mfrac>" in html
    assert "<details" in html and "chain rule" in html
    assert "X/norm_fro(X)" in html


def test_notebook_html_of_the_other_results():
    from matdiff.display import notebook

    assert "<math" in notebook.multigradient_html(matdiff.grad("x'*A*y", ["x", "A"]))
    assert "<math" in notebook.derivative_html(matdiff.derivative("A*X*B", "X"))
    assert "<math" in notebook.hessian_html(matdiff.hessian("x'*A*x", "x"))
    assert "<math" in notebook.hessian_html(matdiff.hessian("logdet(S)", "S", {"S": "spd"}))
    assert "<math" in notebook.steps_html(matdiff.grad("det(A)", "A").steps)
    rep = matdiff.check("norm_fro(X)", "X", seed=0)
    assert "ok" in notebook.check_html(rep)


def test_docs_describe_every_endpoint():
    docs = Path(__file__).resolve().parents[1] / "docs"
    if not docs.is_dir():  # pragma: no cover - an installed package without its sources
        pytest.skip("no docs/ beside the tests")
    text = (docs / "http-api.md").read_text(encoding="utf-8")
    from matdiff.web.jobs import JOBS

    for name in JOBS:
        assert f"/api/{name}" in text


# ------------------------------------------------------------------------------- definitions
def test_definitions_hold_for_the_request(client):
    body = {"expr": "sum(soft(X*w))", "wrt": "w", "definitions": ["soft(U) = log(1 + exp(U))"]}
    r = client.post("/api/grad", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["gradient"] == "X'*sigmoid(X*w)"
    assert any("definition: soft(U) = log(1 + exp(U))" in s for s in out["steps_text"].splitlines())
    assert 'matdiff.define("soft(U) = log(1 + exp(U))")' in out["usage"]
    c = client.post("/api/check", json=body)
    assert c.status_code == 200 and c.json()["ok"] is True
    # the next request without the definition does not see it
    r = client.post("/api/grad", json={"expr": "sum(soft(X*w))", "wrt": "w"})
    assert r.status_code == 400 and r.json()["error"]["kind"] == "ParseError"


def test_a_bad_definition_names_itself(client):
    body = {"expr": "f(x)", "definitions": ["g(U) = U", "f(U) = U + *"]}
    r = client.post("/api/grad", json=body)
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["field"] == "definitions" and err["index"] == 1 and err["kind"] == "ParseError"
    r = client.post("/api/grad", json={"expr": "x'*x", "definitions": ["tr(U) = U"]})
    assert r.status_code == 400 and "built-in" in r.json()["error"]["message"]


@pytest.mark.parametrize("defs, kind", [("soft", "RequestError"), ([1], "RequestError"),
                                        (["no equals sign"], "RequestError"), (["f(U) = U"] * 17, "LimitError")])
def test_definitions_field_is_checked(client, defs, kind):
    r = client.post("/api/grad", json={"expr": "x'*x", "definitions": defs})
    assert r.status_code == 400 and r.json()["error"]["kind"] == kind
    assert r.json()["error"]["field"] == "definitions"
