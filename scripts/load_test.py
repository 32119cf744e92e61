"""Load and abuse test of ``matdiff serve`` on 127.0.0.1 (issue 7, part 4). Stops by itself.

Phase 1 (load): ``--requests`` valid requests from ``--concurrency`` concurrent clients. A client that gets
429 honours Retry-After (with jitter) and retries, so "no failed requests" means every request eventually got
its 200; the 429s are counted separately. Reports requests/s and p50/p95/p99 latency.

Phase 2 (abuse): while a background stream of valid requests goes on, malformed JSON, huge bodies, slow
clients and pathological expressions are sent; each must be answered with a 4xx (the slow clients: a 4xx or
a close) within ``--bound`` seconds, and the background stream must keep succeeding.

Only 127.0.0.1 is contacted. Exit status 0 only when every check holds.

    python scripts/load_test.py                      # 2000 requests, 200 clients, server with 2 workers
    python scripts/load_test.py --requests 200 --concurrency 40
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

HOST = "127.0.0.1"

VALID: list[dict[str, Any]] = [
    {"expr": "norm_fro(X)", "wrt": "X"},
    {"expr": "x'*A*y", "wrt": "A"},
    {"expr": "det(A)", "wrt": "A"},
    {"expr": "logdet(S) + tr(inv(S)*C)", "wrt": "S", "types": {"S": "spd"}},
    {"expr": "norm_fro(A*X - B)^2", "wrt": "X"},
    {"expr": "x'*A*x", "wrt": "x"},
    {"expr": "tr(X'*A*X)", "wrt": "X"},
]

PATHOLOGICAL: dict[str, dict[str, Any]] = {
    "deep nesting (300 parens)": {"expr": "(" * 300 + "x" + ")" * 300, "wrt": "x"},
    "deep calls exp(exp(...)) x100": {"expr": "exp(" * 100 + "x" + ")" * 100, "wrt": "x"},
    "power tower a^a^...^a (150)": {"expr": "^".join(["a"] * 150), "wrt": "a"},
    "huge literal (900 digits)": {"expr": "9" * 900 + "*x", "wrt": "x"},
    "long product x'*A*...*A*x (240)": {"expr": "x'*" + "A*" * 240 + "x", "wrt": "A"},
    "too long expression (5000 chars)": {"expr": "x+" * 2500, "wrt": "x"},
    "too many types (100)": {"expr": "x", "wrt": "x", "types": {f"v{i}": "scalar" for i in range(100)}},
}


# ---------------------------------------------------------------- the server
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def start_server(port: int, workers: int, timeout: float | None = None, read_timeout: float | None = None,
                 log: Any = None) -> subprocess.Popen[bytes]:
    """``matdiff serve`` on 127.0.0.1:port in a subprocess (matdiff importable from this checkout); its stderr
    goes to ``log`` (a file: a pipe no one reads would fill and stall the server)."""
    src = Path(__file__).resolve().parents[1] / "src"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(src), env.get("PYTHONPATH", "")) if p)
    cmd = [sys.executable, "-c", "import sys; from matdiff.cli import main; sys.exit(main(sys.argv[1:]))",
           "serve", "--host", HOST, "--port", str(port), "--workers", str(workers)]
    if timeout is not None:
        cmd += ["--timeout", str(timeout)]
    if read_timeout is not None:
        cmd += ["--read-timeout", str(read_timeout)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log or subprocess.DEVNULL)


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _read_log(log: Any) -> str:
    if log is None:
        return ""
    log.flush()
    log.seek(0)
    return log.read().decode(errors="replace")


async def wait_ready(client: httpx.AsyncClient, proc: subprocess.Popen[bytes], deadline_s: float = 60.0,
                     log: Any = None) -> None:
    """Until a real gradient answers 200 (the worker pool starts in the background)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}: {_read_log(log)[-2000:]}")
        try:
            r = await client.post("/api/grad", json=VALID[0])
            if r.status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError(f"the server did not answer a gradient within {deadline_s:g} s")


# ---------------------------------------------------------------- valid requests, with 429 back-off
@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)  # first attempt to the final 200
    attempt_latencies: list[float] = field(default_factory=list)  # of the 200 answers only
    ok: int = 0
    busy: int = 0  # 429 answers (retried)
    failures: Counter[str] = field(default_factory=Counter)


async def one_valid(client: httpx.AsyncClient, body: dict[str, Any], stats: Stats, give_up_s: float) -> None:
    start = time.monotonic()
    while True:
        t0 = time.monotonic()
        try:
            r = await client.post("/api/grad", json=body)
        except httpx.TimeoutException:
            stats.failures["client timeout"] += 1
            return
        except httpx.TransportError as err:
            stats.failures[f"transport: {type(err).__name__}"] += 1
            return
        now = time.monotonic()
        if r.status_code == 200:
            stats.ok += 1
            stats.latencies.append(now - start)
            stats.attempt_latencies.append(now - t0)
            return
        if r.status_code != 429:
            stats.failures[f"HTTP {r.status_code}"] += 1
            return
        stats.busy += 1
        try:
            wait = float(r.headers.get("retry-after", "1"))
        except ValueError:
            wait = 1.0
        wait = min(5.0, wait * random.uniform(0.5, 1.5))
        if now + wait - start > give_up_s:
            stats.failures["gave up after 429s"] += 1
            return
        await asyncio.sleep(wait)


def percentile(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))]


async def load_phase(client: httpx.AsyncClient, requests: int, concurrency: int, deadline_s: float) -> dict[str, Any]:
    stats = Stats()
    counter = iter(range(requests))
    end = time.monotonic() + deadline_s

    async def worker() -> None:
        for i in counter:
            left = end - time.monotonic()
            if left <= 0:
                stats.failures["not sent (global deadline)"] += 1
                continue
            await one_valid(client, VALID[i % len(VALID)], stats, give_up_s=min(120.0, left))

    t0 = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.monotonic() - t0
    return {"requests": requests, "concurrency": concurrency, "ok": stats.ok, "http_429": stats.busy,
            "failures": dict(stats.failures), "elapsed_s": elapsed, "rps": stats.ok / elapsed if elapsed else 0.0,
            **{f"p{q}_s": percentile(stats.latencies, q) for q in (50, 95, 99)},
            "max_s": max(stats.latencies, default=float("nan")),
            **{f"attempt_p{q}_s": percentile(stats.attempt_latencies, q) for q in (50, 99)}}


# ---------------------------------------------------------------- abuse
def _head(port: int, length: int | None, ctype: str = "application/json", chunked: bool = False) -> bytes:
    lines = ["POST /api/grad HTTP/1.1", f"Host: {HOST}:{port}", f"Content-Type: {ctype}"]
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    elif length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _status(data: bytes) -> int | None:
    try:
        return int(data.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return None


async def raw_exchange(port: int, head: bytes, chunks: Any, bound: float, stall: bool = False,
                       pace: float = 0.0) -> dict[str, Any]:
    """Send ``head`` then ``chunks`` (an iterable of bytes, ``pace`` seconds apart) on a raw socket, stopping when
    the server answers; with ``stall`` send nothing more and wait. The outcome: the status (or a close) and how
    long it took."""
    t0 = time.monotonic()
    reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), bound)
    answered = asyncio.Event()

    async def send() -> None:
        try:
            writer.write(head)
            await writer.drain()
            for chunk in chunks:
                if answered.is_set():
                    return
                writer.write(chunk)
                await writer.drain()
                if pace:
                    await asyncio.sleep(pace)
        except (ConnectionError, OSError):
            pass  # the server answered and closed while we were still sending: expected for huge bodies

    sender = asyncio.create_task(send())
    try:
        data = await asyncio.wait_for(reader.read(4096), bound)
        outcome = {"status": _status(data), "closed": not data}
    except asyncio.TimeoutError:
        outcome = {"status": None, "closed": False, "held": True}
    except (ConnectionError, OSError):
        outcome = {"status": None, "closed": True}
    answered.set()
    sender.cancel()
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), 2)
    except (asyncio.TimeoutError, ConnectionError, OSError):
        pass
    outcome["elapsed_s"] = time.monotonic() - t0
    return outcome


async def kept_alive_then_stall(port: int, partial: bytes, bound: float) -> dict[str, Any]:
    """A valid request answered on a kept-alive connection, then the start of a second one, and a stall."""
    body = json.dumps(VALID[0]).encode()
    reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), bound)
    try:
        writer.write(_head(port, len(body)) + body)
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), bound)
        length = next(int(line.split(b":")[1]) for line in head.lower().split(b"\r\n")
                      if line.startswith(b"content-length:"))
        await asyncio.wait_for(reader.readexactly(length), bound)
        if _status(head) != 200:
            return {"status": _status(head), "elapsed_s": 0.0, "note": "the first request failed"}
        t0 = time.monotonic()
        writer.write(partial)
        await writer.drain()
        try:
            data = await asyncio.wait_for(reader.read(4096), bound)
            out: dict[str, Any] = {"status": _status(data), "closed": not data}
        except asyncio.TimeoutError:
            out = {"status": None, "closed": False, "held": True}
        except (ConnectionError, OSError):
            out = {"status": None, "closed": True}
        out["elapsed_s"] = time.monotonic() - t0
        return out
    finally:
        writer.close()


def _chunks(total: int, size: int = 65536, chunked: bool = False) -> Any:
    block = b"x" * size
    sent = 0
    while sent < total:
        piece = block[: min(size, total - sent)]
        sent += len(piece)
        yield (f"{len(piece):x}\r\n".encode() + piece + b"\r\n") if chunked else piece
    if chunked:
        yield b"0\r\n\r\n"


async def http_case(client: httpx.AsyncClient, bound: float, **kw: Any) -> dict[str, Any]:
    """One request through httpx; 429 is retried within ``bound`` (a pathological input must reach a worker)."""
    t0 = time.monotonic()
    busy = 0
    while True:
        try:
            r = await client.post("/api/grad", timeout=max(0.1, bound - (time.monotonic() - t0)), **kw)
        except httpx.TimeoutException:
            return {"status": None, "held": True, "elapsed_s": time.monotonic() - t0, "busy": busy}
        except httpx.TransportError as err:
            return {"status": None, "error": type(err).__name__, "elapsed_s": time.monotonic() - t0, "busy": busy}
        if r.status_code == 429 and time.monotonic() - t0 + 1 < bound:
            busy += 1
            await asyncio.sleep(float(r.headers.get("retry-after", "1")) * random.uniform(0.5, 1.0))
            continue
        kind = None
        try:
            kind = r.json().get("error", {}).get("kind")
        except (json.JSONDecodeError, AttributeError):
            pass
        return {"status": r.status_code, "kind": kind, "elapsed_s": time.monotonic() - t0, "busy": busy,
                "traceback": "Traceback" in r.text}


async def abuse_cases(client: httpx.AsyncClient, port: int, bound: float, slow_clients: int) -> list[dict[str, Any]]:
    """Run every abuse case at once; each row: name, expected, outcome, ok."""
    json_h = {"content-type": "application/json"}
    huge = 10 * 1024 * 1024
    cases: list[tuple[str, str, Any]] = [
        ("malformed JSON", "4xx", http_case(client, bound, content=b'{"expr": "norm_fro(X)", ', headers=json_h)),
        ("not UTF-8", "4xx", http_case(client, bound, content=b'{"expr": "\xff\xfe"}', headers=json_h)),
        ("JSON nested 100000 deep", "4xx", http_case(client, bound, content=b"[" * 100_000, headers=json_h)),
        ("JSON array, not object", "4xx", http_case(client, bound, json=[1, 2, 3])),
        ("wrong content type", "4xx",
         http_case(client, bound, content=b"expr=x", headers={"content-type": "text/plain"})),
        ("huge body 10 MB (Content-Length)", "4xx",
         raw_exchange(port, _head(port, huge), _chunks(huge), bound)),
        ("huge body 10 MB (chunked)", "4xx",
         raw_exchange(port, _head(port, None, chunked=True), _chunks(huge, chunked=True), bound)),
        ("huge body 10 MB (httpx)", "4xx", http_case(client, bound, content=b" " * huge, headers=json_h)),
    ]
    for name, body in PATHOLOGICAL.items():
        cases.append((name, "4xx", http_case(client, bound, json=body)))
    slow_body = _head(port, 200) + b'{"expr": "norm_fro(X)'
    slow_head = f"POST /api/grad HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Ty".encode()
    cases.append(("slow client: partial body, stalls", "4xx or close",
                  raw_exchange(port, slow_body, [], bound, stall=True)))
    cases.append(("slow client: partial headers, stalls", "4xx or close",
                  raw_exchange(port, slow_head, [], bound, stall=True)))
    cases.append(("slow client: connects, sends nothing", "4xx or close",
                  raw_exchange(port, b"", [], bound, stall=True)))
    trickle = (f"X-Pad-{i}: {i}\r\n".encode() for i in range(10_000))
    cases.append(("slowloris: a header line every 0.2 s, never done", "4xx or close",
                  raw_exchange(port, slow_head + b"pe: application/json\r\n", trickle, bound, pace=0.2)))
    cases.append(("slow body: a byte every 0.2 s", "4xx or close",
                  raw_exchange(port, _head(port, 10_000), (b" " for _ in range(10_000)), bound, pace=0.2)))
    cases.append(("slow client: kept alive, then stalls mid-headers", "4xx or close",
                  kept_alive_then_stall(port, slow_head, bound)))
    many = [raw_exchange(port, slow_body, [], bound, stall=True) for _ in range(slow_clients)]

    async def crowd() -> dict[str, Any]:
        t0 = time.monotonic()
        outs = await asyncio.gather(*many)
        held = sum(1 for o in outs if o.get("held"))
        answers = Counter(o["status"] if o.get("status") else "closed" for o in outs if not o.get("held"))
        bad = [k for k in answers if k != "closed" and not 400 <= k < 500]  # type: ignore[operator]
        return {"status": None, "closed": not held and not bad, "held": bool(held), "held_count": held,
                "answers": dict(answers), "elapsed_s": time.monotonic() - t0}

    if slow_clients:
        cases.append((f"{slow_clients} slow clients at once (partial body)", "4xx or close", crowd()))
    outcomes = await asyncio.gather(*(c for _, _, c in cases))
    rows = []
    for (name, expected, _), out in zip(cases, outcomes):
        st = out.get("status")
        in_time = out["elapsed_s"] <= bound + 1
        if expected == "4xx":
            ok = st is not None and 400 <= st < 500 and st != 429 and in_time and not out.get("traceback")
        else:
            ok = (st is not None and 400 <= st < 500 or bool(out.get("closed"))) and in_time and not out.get("held")
        rows.append({"name": name, "expected": expected, **out, "ok": ok})
    return rows


async def background(client: httpx.AsyncClient, stats: Stats, stop: asyncio.Event, n: int) -> None:
    async def loop(k: int) -> None:
        i = k
        while not stop.is_set():
            await one_valid(client, VALID[i % len(VALID)], stats, give_up_s=60.0)
            i += 1
    await asyncio.gather(*(loop(k) for k in range(n)))


async def abuse_phase(client: httpx.AsyncClient, port: int, bound: float, slow_clients: int,
                      stream: int) -> dict[str, Any]:
    stats, stop = Stats(), asyncio.Event()
    bg = asyncio.create_task(background(client, stats, stop, stream))
    await asyncio.sleep(0.5)
    t0 = time.monotonic()
    ok_before = stats.ok
    rows = await abuse_cases(client, port, bound, slow_clients)
    ok_during = stats.ok - ok_before
    # Requests still answered after the abuse (the slow clients may still hold connections here).
    after = Stats()
    await asyncio.gather(*(one_valid(client, VALID[i % len(VALID)], after, 60.0) for i in range(10)))
    stop.set()
    await asyncio.wait_for(bg, 120)
    return {"rows": rows, "window_s": time.monotonic() - t0, "background_ok_during": ok_during,
            "background_ok": stats.ok, "background_429": stats.busy, "background_failures": dict(stats.failures),
            "background_p99_s": percentile(stats.latencies, 99), "after_ok": after.ok,
            "after_failures": dict(after.failures)}


# ---------------------------------------------------------------- the whole run
async def run_async(requests: int, concurrency: int, workers: int, bound: float, deadline: float,
                    slow_clients: int, stream: int, skip_load: bool = False,
                    read_timeout: float | None = None) -> dict[str, Any]:
    port = free_port()
    log = tempfile.TemporaryFile()
    proc = start_server(port, workers, read_timeout=read_timeout, log=log)
    limits = httpx.Limits(max_connections=concurrency + stream + 50, max_keepalive_connections=concurrency + stream)
    try:
        async with httpx.AsyncClient(base_url=f"http://{HOST}:{port}", timeout=httpx.Timeout(60.0),
                                     limits=limits, trust_env=False) as client:
            await wait_ready(client, proc, log=log)
            load = None if skip_load else await load_phase(client, requests, concurrency, deadline)
            abuse = await asyncio.wait_for(abuse_phase(client, port, bound, slow_clients, stream), deadline)
        alive = proc.poll() is None
        stop_server(proc)
        text = _read_log(log)
        return {"port": port, "workers": workers, "read_timeout": read_timeout, "load": load, "abuse": abuse,
                "server_alive": alive, "server_log_tracebacks": text.count("Traceback"),
                "server_log_tail": text[-2000:]}
    finally:
        stop_server(proc)
        log.close()


def checks(report: dict[str, Any]) -> list[tuple[str, bool]]:
    out: list[tuple[str, bool]] = []
    load = report["load"]
    if load is not None:
        out.append(("load: every request answered 200 (429s retried)",
                    load["ok"] == load["requests"] and not load["failures"]))
    ab = report["abuse"]
    for row in ab["rows"]:
        out.append((f"abuse: {row['name']}", row["ok"]))
    out.append(("abuse: background stream kept succeeding during abuse",
                ab["background_ok_during"] > 0 and not ab["background_failures"]))
    out.append(("abuse: requests still answered afterwards", ab["after_ok"] == 10 and not ab["after_failures"]))
    out.append(("server still running at the end", report["server_alive"]))
    out.append(("server logged no tracebacks", report["server_log_tracebacks"] == 0))
    return out


def print_report(report: dict[str, Any], results: list[tuple[str, bool]]) -> None:
    load = report["load"]
    print(f"matdiff serve on {HOST}:{report['port']}, {report['workers']} workers, {os.cpu_count()} CPUs")
    if load is not None:
        print(f"\nLOAD  {load['requests']} requests, {load['concurrency']} concurrent clients, "
              f"{load['elapsed_s']:.1f} s")
        print(f"  ok {load['ok']}   failures {load['failures'] or 0}   429 answers (retried) {load['http_429']}")
        print(f"  throughput {load['rps']:.1f} req/s")
        print(f"  latency incl. 429 back-off: p50 {load['p50_s'] * 1000:.0f} ms   p95 {load['p95_s'] * 1000:.0f} ms"
              f"   p99 {load['p99_s'] * 1000:.0f} ms   max {load['max_s'] * 1000:.0f} ms")
        print(f"  latency of the answering attempt: p50 {load['attempt_p50_s'] * 1000:.0f} ms"
              f"   p99 {load['attempt_p99_s'] * 1000:.0f} ms")
    ab = report["abuse"]
    print(f"\nABUSE  (background stream: {ab['background_ok']} ok, {ab['background_ok_during']} during the "
          f"abuse window of {ab['window_s']:.1f} s, 429s {ab['background_429']}, failures "
          f"{ab['background_failures'] or 0}, p99 {ab['background_p99_s'] * 1000:.0f} ms)")
    print(f"  {'case':<50} {'expected':<13} {'got':<22} {'time':>7}  ok")
    for row in ab["rows"]:
        got = (str(row["status"]) + (f" {row['kind']}" if row.get("kind") else "") if row.get("status")
               else "held open" if row.get("held") else "closed" if row.get("closed") else row.get("error", "?"))
        if row.get("held_count"):
            got = f"{row['held_count']} held open"
        elif row.get("answers"):
            got = ", ".join(f"{n} x {k}" for k, n in row["answers"].items())
        print(f"  {row['name']:<50} {row['expected']:<13} {got:<22} {row['elapsed_s']:6.1f}s  "
              f"{'yes' if row['ok'] else 'NO'}")
    if report["server_log_tracebacks"]:
        print(f"\nSERVER LOG ({report['server_log_tracebacks']} tracebacks), its end:\n{report['server_log_tail']}")
    print("\nCHECKS")
    for name, ok in results:
        print(f"  [{'PASS' if ok else 'FAIL'}] {name}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=200)
    p.add_argument("--workers", type=int, default=2, help="the server's worker processes")
    p.add_argument("--bound", type=float, default=15.0, help="seconds within which each abuse case must end")
    p.add_argument("--deadline", type=float, default=600.0, help="global deadline of each phase, seconds")
    p.add_argument("--slow-clients", type=int, default=50, help="stalled connections held at once")
    p.add_argument("--read-timeout", type=float, default=None,
                   help="the server's --read-timeout (default: its own default)")
    p.add_argument("--stream", type=int, default=8, help="background clients during the abuse phase")
    p.add_argument("--skip-load", action="store_true", help="only the abuse phase")
    p.add_argument("--json", metavar="FILE", help="also write the report as JSON")
    a = p.parse_args(argv)
    report = asyncio.run(run_async(a.requests, a.concurrency, a.workers, a.bound, a.deadline, a.slow_clients,
                                   a.stream, a.skip_load, a.read_timeout))
    results = checks(report)
    print_report(report, results)
    if a.json:
        Path(a.json).write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    return 0 if all(ok for _, ok in results) else 1


if __name__ == "__main__":
    sys.exit(main())
