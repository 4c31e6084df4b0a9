"""Worker processes for both archive kinds: results in submission order, a bounded window of jobs in
flight, and workers that stop when their parent does.

A worker leaves signals to its parent. Ctrl-C in a terminal reaches the whole process group, and a
worker that died of it printed a traceback over the parent's one-line message; so workers ignore
SIGINT, and the parent, which removes its temporary outputs, stops them (`OrderedPool.close`, with
SIGTERM). A parent killed outright (SIGKILL, or SIGTERM before this module) left its two spawned
workers idle for good, each holding a model: on Linux a worker now asks the kernel for SIGTERM when its
parent exits.
"""
from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
from collections import deque
from typing import Callable, Iterable, Iterator

PR_SET_PDEATHSIG = 1  # prctl option (linux/prctl.h)
STOPPING_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


def prepare_worker_signals() -> None:
    """Run first in every worker process (both pools' initialisers). A worker starts with the stopping
    signals held (`_signals_held`); a SIGTERM sent meanwhile, by a pool stopped at once, kills it here."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a forked worker inherits the CLI's handler
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
    _stop_with_parent()
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOPPING_SIGNALS)


def _hold_signals() -> set | None:
    """Hold Ctrl-C, SIGTERM and SIGHUP while a pool starts (None where that cannot be done). Raised
    halfway through `multiprocessing.Pool()`, they left workers running that nothing would stop (it
    cleans up after an Exception only), and a SIGHUP caught there hung a test for a minute. Held, they
    are raised once the pool is whole; the workers and the pool's threads inherit the mask, so the
    threads never take a signal meant for the main thread, and the workers release it themselves."""
    if not hasattr(signal, "pthread_sigmask"):
        return None
    return signal.pthread_sigmask(signal.SIG_BLOCK, STOPPING_SIGNALS)


def _release_signals(previous: set | None) -> None:
    if previous is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _stop_with_parent() -> None:
    if not sys.platform.startswith("linux"):
        return
    parent = multiprocessing.parent_process()
    try:
        prctl = ctypes.CDLL(None).prctl
    except (OSError, AttributeError):
        return
    prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4
    prctl.restype = ctypes.c_int
    prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    if parent is not None and os.getppid() != parent.pid:  # the parent exited before the request
        os._exit(1)


class OrderedPool:
    """`map` runs jobs on `workers` processes and yields their results in submission order, with at most
    `window` jobs submitted and not yet yielded (what bounds memory: each holds a chunk)."""

    def __init__(self, workers: int, start_method: str, initializer: Callable, initargs: tuple, window: int):
        if workers < 2 or window < 1:
            raise ValueError("an OrderedPool needs two workers or more and a window of one job or more")
        self.window = window
        context = multiprocessing.get_context(start_method)
        previous = _hold_signals()
        try:
            self._pool = context.Pool(workers, _initialise, (initializer, initargs))
        finally:
            try:
                _release_signals(previous)  # a signal that came meanwhile is raised here
            except BaseException:
                if hasattr(self, "_pool"):
                    self.close()
                raise

    def map(self, fn: Callable, jobs: Iterable) -> Iterator:
        pending: deque = deque()
        for job in jobs:
            pending.append(self._pool.apply_async(_run, (fn, job)))
            if len(pending) >= self.window:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()

    def close(self) -> None:
        """Stop the workers. After the last result, or after an error (a corrupt chunk, say), the few jobs
        still in flight (at most `window`) finish and the pool closes: terminating a worker while it sends
        its result could leave the pool's result thread waiting for the rest of it for good (the 2-worker
        fuzz test hung about one run in six, its workers gone and the parent in `join`). On Ctrl-C or a
        stopping signal (not an Exception) the workers are stopped at once, finished or not."""
        stopping = sys.exc_info()[1]
        if stopping is None or isinstance(stopping, Exception):
            self._pool.close()
        else:
            self._pool.terminate()
        self._pool.join()


_INIT_ERROR: BaseException | None = None


def _initialise(initializer: Callable, initargs: tuple) -> None:
    """A failed initialiser is kept and raised by the worker's first job, in the parent's `get`: a
    multiprocessing pool replaces a worker that dies in its initialiser, forever, and the parent would
    wait for good (a model file changed on disk after the parent checked it, say)."""
    global _INIT_ERROR
    prepare_worker_signals()
    try:
        initializer(*initargs)
    except Exception as exc:
        _INIT_ERROR = exc


def _run(fn: Callable, job):
    if _INIT_ERROR is not None:
        raise _INIT_ERROR
    return fn(job)
