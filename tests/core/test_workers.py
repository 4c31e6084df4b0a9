"""Worker pools: results in order, a failing initialiser is an error (not a hang), and workers leave
signals to their parent and die with it."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from darnzip.core.workers import OrderedPool

from ..processes import running


def _nothing() -> None:
    pass


def _broken() -> None:
    raise ValueError("model file changed on disk")


def _square(n: int) -> int:
    time.sleep(0.01 * (n % 3))  # finishing out of order
    return n * n


def _report_and_sleep(seconds: float) -> None:
    os.write(1, f"{os.getpid()}\n".encode())  # one write: the two workers' lines never interleave
    time.sleep(seconds)


def _worker_settings(_) -> tuple:
    pdeathsig = None
    if sys.platform.startswith("linux"):
        import ctypes

        value = ctypes.c_int(0)
        ctypes.CDLL(None).prctl(2, ctypes.byref(value), 0, 0, 0)  # PR_GET_PDEATHSIG
        pdeathsig = value.value
    return signal.getsignal(signal.SIGINT) == signal.SIG_IGN, signal.getsignal(signal.SIGTERM) == signal.SIG_DFL, \
        pdeathsig


@pytest.mark.parametrize("method", ["fork", "spawn"] if sys.platform.startswith("linux") else ["spawn"])
def test_results_come_in_order_and_workers_leave_signals_to_the_parent(method):
    pool = OrderedPool(2, method, _nothing, (), window=3)
    try:
        assert list(pool.map(_square, range(20))) == [n * n for n in range(20)]
        ignores_ctrl_c, dies_of_sigterm, pdeathsig = next(pool.map(_worker_settings, [0]))
    finally:
        pool.close()
    assert ignores_ctrl_c and dies_of_sigterm
    if sys.platform.startswith("linux"):
        assert pdeathsig == signal.SIGTERM


def test_a_failing_initialiser_raises_in_the_parent_instead_of_hanging():
    pool = OrderedPool(2, "spawn", _broken, (), window=2)
    try:
        with pytest.raises(ValueError, match="model file changed on disk"):
            list(pool.map(_square, range(4)))
    finally:
        pool.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_workers_exit_when_their_parent_is_killed_outright(method):
    """A worker in the middle of a job (a chunk takes seconds) stops with its parent, not when it next
    writes a result to it."""
    script = textwrap.dedent(f"""
        from darnzip.core.workers import OrderedPool
        from tests.core.test_workers import _nothing, _report_and_sleep
        pool = OrderedPool(2, "{method}", _nothing, (), window=2)
        list(pool.map(_report_and_sleep, [120, 120]))
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))  # (its semaphores leak: a warning)
    workers = {int(parent.stdout.readline()) for _ in range(2)}  # both busy when the parent dies
    assert len(workers) == 2
    parent.kill()  # SIGKILL: no clean-up of any kind runs in the parent
    parent.wait(timeout=30)
    deadline = time.time() + 20
    while time.time() < deadline and any(running(pid) for pid in workers):
        time.sleep(0.05)
    assert not any(running(pid) for pid in workers), "workers outlived their killed parent"
