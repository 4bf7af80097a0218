"""Turning SIGINT and SIGTERM into an exception the run can clean up after."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading


class Interrupted(KeyboardInterrupt):
    """The client received SIGINT or SIGTERM; `signum` is the signal's number."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        """The shell's convention: 128 plus the signal number (130 SIGINT, 143 SIGTERM)."""
        return 128 + self.signum


@contextlib.contextmanager
def signals_interrupt():
    """Raise `Interrupted` in the main thread on the first SIGINT or SIGTERM.

    A second signal while the first is being handled (the cluster shutting down,
    partial outputs being removed) ends the process at once. The output folder is
    still marked unfinished then, because its `INCOMPLETE` marker is written when
    the run starts and removed only when it ends.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def handle(signum, frame):
        if received:
            print(f"clearance: second {signal.Signals(signum).name}; stopping now without "
                  "cleaning up", file=sys.stderr, flush=True)
            os._exit(128 + signum)
        received.append(signum)
        raise Interrupted(signum)

    previous = {number: signal.signal(number, handle) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


@contextlib.contextmanager
def sigint_ignored_in_children():
    """Start processes inside this block with SIGINT ignored, so Ctrl-C reaches only the client.

    A terminal sends Ctrl-C to every process of the foreground group. Worker
    processes of a LocalCluster would each print a KeyboardInterrupt traceback;
    the client stops them in order instead. An ignored signal stays ignored across
    fork and exec, and Python keeps it so. This process ignores SIGINT too while
    the block runs (a cluster starting, a few seconds), and holds back SIGTERM
    until the block ends: raised inside distributed's start-up, it left a
    half-started cluster that failed again at exit with tracebacks.

    NOTE: a worker that the nanny restarts later is started outside this block, so it
    takes SIGINT as usual.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held_signals: list[int] = []
    previous_sigint = signal.signal(signal.SIGINT, signal.SIG_IGN)
    previous_sigterm = signal.signal(signal.SIGTERM, lambda signum, frame: held_signals.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous_sigint)
        signal.signal(signal.SIGTERM, previous_sigterm)
        if held_signals:
            # Delivered to the handler the block replaced, as if it came now.
            signal.raise_signal(signal.SIGTERM)
