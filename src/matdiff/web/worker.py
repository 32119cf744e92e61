"""Worker processes that run the jobs, each stoppable: a job past its time limit gets its process killed.

A small fixed pool: a request takes an idle worker (waiting a little when all are busy, then giving
up with :class:`Busy`), sends it ``(job, payload)`` over a pipe and waits for the answer at most
``timeout`` seconds. A worker that overran or died is killed and replaced. On Linux and macOS the
workers come from a fork server that has imported matdiff once, so a replacement starts in
milliseconds; elsewhere they are spawned.
"""

from __future__ import annotations

import multiprocessing as mp
import signal
import threading
from multiprocessing.connection import Connection
from typing import Any

from .jobs import Payload, run_job

_PRELOAD = ["matdiff", "matdiff.web.jobs", "latex2mathml.converter", "matplotlib.figure",
            "matplotlib.backends.backend_agg"]


class Busy(Exception):
    """Every worker stayed busy for the whole wait."""


class Overrun(Exception):
    """The job ran past the time limit; its worker was killed."""


class Crashed(Exception):
    """The worker died while running the job (killed from outside, out of memory, a crash in C)."""


def _serve(conn: Connection) -> None:
    """The worker's loop: receive (job, payload), answer (status, body); stop on None or a closed pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the server, which stops the workers
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        job, payload = msg
        conn.send(run_job(job, payload))


def _context() -> Any:
    methods = mp.get_all_start_methods()
    if "forkserver" in methods:
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(_PRELOAD)
        return ctx
    return mp.get_context("spawn")


class _Worker:
    """One process and the parent's end of its pipe."""

    def __init__(self, ctx: Any):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child,), daemon=True, name="matdiff-web-worker")
        self.proc.start()
        child.close()

    def alive(self) -> bool:
        return self.proc.is_alive()

    def kill(self) -> None:
        try:
            self.proc.kill()
            self.proc.join(timeout=5)
        finally:
            self.conn.close()

    def stop(self) -> None:
        try:
            self.conn.send(None)
            self.proc.join(timeout=2)
        except (OSError, ValueError):
            pass
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(timeout=5)
        self.conn.close()


class WorkerPool:
    """``size`` worker processes; :meth:`run` is blocking and thread-safe (call it from a thread)."""

    def __init__(self, size: int = 2, timeout: float = 10.0, wait: float = 2.0):
        if size < 1:
            raise ValueError("a worker pool needs at least one worker")
        self.size, self.timeout, self.wait = size, timeout, wait
        self._slots = threading.BoundedSemaphore(size)
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []
        self._busy = 0
        self._ctx: Any = None
        self._closed = False

    @property
    def busy(self) -> int:
        """How many workers are running a job now."""
        return self._busy

    def _new(self) -> _Worker:
        if self._ctx is None:
            self._ctx = _context()
        return _Worker(self._ctx)

    def start(self) -> None:
        """Start the idle workers now rather than at the first request."""
        with self._lock:
            while len(self._idle) + self._busy < self.size and not self._closed:
                self._idle.append(self._new())

    def _take(self) -> _Worker:
        with self._lock:
            if self._closed:
                raise Busy("the server is shutting down")
            self._busy += 1
            while self._idle:
                w = self._idle.pop()
                if w.alive():
                    return w
                w.kill()
        try:
            return self._new()
        except BaseException:
            with self._lock:
                self._busy -= 1
            raise

    def _give_back(self, w: _Worker | None) -> None:
        with self._lock:
            self._busy -= 1
            if w is not None and not self._closed:
                self._idle.append(w)
                w = None
        if w is not None:
            w.stop()

    def run(self, job: str, payload: Payload, timeout: float | None = None) -> tuple[int, Payload]:
        """(status, body) of ``job`` run in a worker; Busy, Overrun or Crashed where it cannot be had."""
        if not self._slots.acquire(timeout=self.wait):
            raise Busy(f"all {self.size} workers stayed busy for {self.wait:g} s")
        try:
            w = self._take()
            limit = self.timeout if timeout is None else timeout
            try:
                w.conn.send((job, payload))
                if not w.conn.poll(limit):
                    w.kill()
                    w = None
                    raise Overrun(f"the computation took longer than {limit:g} s and was stopped")
                return w.conn.recv()
            except (EOFError, OSError, BrokenPipeError):
                if w is not None:
                    w.kill()
                w = None
                raise Crashed("the worker process stopped unexpectedly") from None
            finally:
                self._give_back(w)
        finally:
            self._slots.release()

    def close(self) -> None:
        """Stop every idle worker (busy ones are stopped when their job returns)."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for w in idle:
            w.stop()

