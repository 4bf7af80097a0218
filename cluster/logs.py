"""Logging of the tasks in worker processes.

distributed configures only its own loggers in a worker, so without this the log
lines of `cluster.tasks` and `engine` would reach no handler there. The plugin sends
them to the worker's standard error (the client's terminal for a LocalCluster) and
to the worker's log buffer that the dashboard and `Client.get_worker_logs` read.
"""

from __future__ import annotations

import logging
import sys

from distributed.diagnostics.plugin import WorkerPlugin

LOGGERS = ("cluster", "engine")
FORMAT = "%(asctime)s %(levelname)s %(name)s [worker %(process)d]: %(message)s"


class TaskLogging(WorkerPlugin):
    """Route this project's log records in a worker to standard error and the log buffer."""

    name = "clearance-task-logging"

    def __init__(self, level: int):
        self.level = level

    def setup(self, worker) -> None:
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(logging.Formatter(FORMAT))
        stream.set_name(self.name)
        buffer = getattr(worker, "_deque_handler", None)
        for name in LOGGERS:
            logger = logging.getLogger(name)
            # Registering again (a second run on the same cluster) replaces the handler.
            for handler in [h for h in logger.handlers if h.get_name() == self.name]:
                logger.removeHandler(handler)
            logger.addHandler(stream)
            if buffer is not None and buffer not in logger.handlers:
                logger.addHandler(buffer)
            logger.setLevel(self.level)
            logger.propagate = False
