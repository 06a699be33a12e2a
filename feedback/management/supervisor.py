"""Run a few child processes together, as ``run_demo`` needs: start them all, stop them
all on Ctrl-C or SIGTERM, and when one dies on its own, stop the others and report it."""

import contextlib
import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import FrameType

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Child:
    name: str
    argv: Sequence[str]


@dataclass(frozen=True)
class Outcome:
    """How the group ended: ``failed`` names the child that died first (None after a
    requested stop) and ``returncode`` is what the caller should exit with."""

    failed: str | None
    returncode: int


def children_run(
    children: Sequence[Child],
    *,
    env: dict[str, str] | None = None,
    started: Callable[[], None] | None = None,
    poll_seconds: float = 0.5,
    stop_seconds: float = 15.0,
) -> Outcome:
    """Start ``children``, wait until a signal or a child's exit, then stop the rest."""
    stop_requested: list[int] = []

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop_requested.append(signum)

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    processes: list[tuple[Child, subprocess.Popen[bytes]]] = []
    try:
        for child in children:
            # Own session: the terminal's Ctrl-C reaches only us, and we stop each child
            # in order rather than have them all race to exit.
            process = subprocess.Popen(list(child.argv), env=env, start_new_session=True)
            processes.append((child, process))
            logger.info("started %s (pid %s)", child.name, process.pid)
        if started is not None:
            started()
        while not stop_requested:
            for child, process in processes:
                code = process.poll()
                if code is not None:
                    logger.error("%s exited with code %s; stopping the others", child.name, code)
                    _stop_all(processes, stop_seconds)
                    return Outcome(failed=child.name, returncode=code or 1)
            time.sleep(poll_seconds)
        logger.info("stopping (signal %s)", stop_requested[0])
        _stop_all(processes, stop_seconds)
        return Outcome(failed=None, returncode=0)
    finally:
        _stop_all(processes, stop_seconds)  # no-op when all have exited
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _stop_all(processes: list[tuple[Child, "subprocess.Popen[bytes]"]], timeout: float) -> None:
    running = [(c, p) for c, p in processes if p.poll() is None]
    for _, process in running:
        # The main process only: a Celery worker then shuts its pool down itself.
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for child, process in running:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            logger.warning("%s did not stop in %.0f s; killing it", child.name, timeout)
            _signal_group(process, signal.SIGKILL)
            process.wait()
    for _, process in processes:
        # Leftover grandchildren (a worker's pool) go with their group.
        _signal_group(process, signal.SIGKILL)


def _signal_group(process: "subprocess.Popen[bytes]", sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)
