"""Issue 13 item 11: the answers uvicorn/h11 write themselves are JSON like every other error of the API.

A real server (``matdiff.web.server.serve`` in a subprocess, with a connection limit of 3) is sent raw
requests: one without a Host header (400) and one past the connection limit (503).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

SRC = Path(__file__).resolve().parents[1] / "src"
HOST = "127.0.0.1"
LIMIT = 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _exchange(port: int, request: bytes, timeout: float = 10.0) -> bytes:
    """Send raw bytes, read the answer until the server closes (or the content-length is in)."""
    with socket.create_connection((HOST, port), timeout=timeout) as s:
        s.sendall(request)
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            data += chunk
            head, sep, body = data.partition(b"\r\n\r\n")
            length = [int(line.split(b":")[1]) for line in head.lower().split(b"\r\n")
                      if line.startswith(b"content-length:")]
            if sep and length and len(body) >= length[0]:
                break
        return data


def _parse(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict((k.strip().lower(), v.strip()) for k, v in (line.split(":", 1) for line in lines[1:]))
    return int(lines[0].split()[1]), headers, body


def _get(port: int, path: str = "/") -> bytes:
    return _exchange(port, f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nConnection: close\r\n\r\n".encode())


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])))
    code = ("import sys; from matdiff.web.limits import Limits; from matdiff.web.server import serve; "
            f"serve(host={HOST!r}, port={port}, limits=Limits(workers=1, max_connections={LIMIT}))")
    log = (tmp_path_factory.mktemp("server") / "log").open("wb")
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=log, stderr=log)
    try:
        end = time.monotonic() + 60
        while True:
            assert proc.poll() is None, "the server exited"
            try:
                if _parse(_get(port))[0] == 200:
                    break
            except (OSError, IndexError, ValueError):
                pass
            assert time.monotonic() < end, "the server did not start"
            time.sleep(0.2)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def _assert_json_error(raw: bytes, status: int, kind: str) -> dict[str, str]:
    code, headers, body = _parse(raw)
    assert code == status, raw
    assert headers["content-type"].startswith("application/json"), raw
    err = json.loads(body)["error"]
    assert err["kind"] == kind and isinstance(err["message"], str) and err["message"], err
    assert set(err) <= {"kind", "message", "position", "field"}
    return err


def test_request_without_host_answers_json_400(port):
    raw = _exchange(port, b"GET /api/examples HTTP/1.1\r\nConnection: close\r\n\r\n")
    err = _assert_json_error(raw, 400, "RequestError")
    assert "Host" in err["message"]


def test_malformed_request_line_answers_json_400(port):
    raw = _exchange(port, b"NOT A REQUEST\r\n\r\n")
    _assert_json_error(raw, 400, "RequestError")


def test_past_the_connection_limit_answers_json_503(port):
    idle = [socket.create_connection((HOST, port), timeout=10) for _ in range(LIMIT)]
    try:
        time.sleep(0.3)  # the server has accepted them
        raw = _get(port)
        err = _assert_json_error(raw, 503, "Unavailable")
        assert "connections" in err["message"]
    finally:
        for s in idle:
            s.close()
    time.sleep(0.3)
    assert _parse(_get(port))[0] == 200  # served again once the idle connections are gone
