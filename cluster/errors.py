"""Errors that leave a task or the client without carrying a value from an input row.

An exception message can quote the value that broke a parse (`invalid literal for
int(): '...'`). A task therefore re-raises any error other than an OSError as a
`TaskError` that names only the task, the unit, the exception type and the line of
code. OSErrors pass with their number, system message and file name, because the
file name is a path the run chose or was given, never a cell.
"""

from __future__ import annotations

import errno
import functools
import os
import sys
import traceback
from pathlib import Path

_PACKAGE_ROOT = Path(__file__).resolve().parents[1]


def resume_command(out) -> str:
    """Return the command that finishes the unfinished run in `out`.

    The program is named as it was started (`.venv/bin/clearance` after `make`), so
    the command runs as printed. Started any other way, the program is `clearance`.
    """
    program = sys.argv[0] if sys.argv and Path(sys.argv[0]).name == "clearance" else "clearance"
    return f"{program} run --resume {out}"


class TaskError(RuntimeError):
    """A task failed; the message names the task, unit, exception type and code line."""


class InputChangedError(RuntimeError):
    """An input file changed between planning and merging, or before a resume."""


def code_location(error: BaseException) -> str:
    """Return `file:line in function` of the innermost frame of this project, else the last frame."""
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return "unknown location"
    chosen = frames[-1]
    for frame in reversed(frames):
        path = Path(frame.filename)
        if path.is_relative_to(_PACKAGE_ROOT) and ".venv" not in path.parts:
            chosen = frame
            break
    path = Path(chosen.filename)
    display_path = path.relative_to(_PACKAGE_ROOT) if path.is_relative_to(_PACKAGE_ROOT) else path.name
    return f"{display_path}:{chosen.lineno} in {chosen.name}"


def _unit_of(args: tuple) -> str:
    if not args:
        return "no unit"
    first = args[0]
    index = getattr(first, "index", None)
    if isinstance(index, int):
        return f"shard {index}"
    if isinstance(first, int):
        return f"bucket {first}"
    return type(first).__name__


def _summary(task, args: tuple, error: BaseException) -> str:
    return (f"{task.__name__} of {_unit_of(args)} failed: {type(error).__name__} at "
            f"{code_location(error)}")


def redact_errors(task):
    """Wrap a task so that what it raises carries no text from the data it read."""

    @functools.wraps(task)
    def run(*args, **kwargs):
        try:
            return task(*args, **kwargs)
        except OSError as error:
            if error.errno is None:
                raise TaskError(_summary(task, args, error)) from None
            # A fresh OSError drops the chained context and any custom text.
            raise OSError(error.errno, error.strerror or os.strerror(error.errno),
                          error.filename) from None
        except Exception as error:  # noqa: BLE001 - every other error is redacted alike
            raise TaskError(_summary(task, args, error)) from None

    return run


def describe_os_error(error: OSError, out: str | None = None) -> str:
    """Return one sentence for an OSError: what failed, where, and what to do."""
    if error.errno is None:
        # Errors of the network layer (a closed connection, a timeout) carry no
        # number; their text names addresses, not data.
        return f"{type(error).__name__}: {error}"
    where = error.filename if error.filename is not None else "an unnamed file"
    resume = f"; then finish the run with `{resume_command(out)}`" if out else ""
    if error.errno == errno.ENOSPC:
        return f"no space left on the device while writing {where}; free space there{resume}"
    if error.errno == errno.EDQUOT:
        return f"disk quota exceeded while writing {where}; free space or raise the quota{resume}"
    if error.errno in (errno.EACCES, errno.EPERM):
        return f"permission denied on {where}; check the owner and mode of that path{resume}"
    if error.errno == errno.EROFS:
        return f"{where} is on a read-only file system; choose a writable --out"
    if error.errno == errno.ENOENT:
        restore = f"; put it back, then finish the run with `{resume_command(out)}`" if out else ""
        return f"{where} was not found; it may have been moved or deleted during the run{restore}"
    if error.errno == errno.EIO:
        return f"input/output error on {where}; check the device{resume}"
    reason = error.strerror or type(error).__name__
    return f"{reason} on {where}{resume}"


def describe_failure(error: Exception, out: str | None = None, debug: bool = False) -> str:
    """Return the one line the command prints for an error it did not expect to succeed past.

    Errors of this project and OSErrors carry messages written to name files,
    lines and fields. Any other exception is named by type and code line only,
    because its message may quote a value.
    """
    from cluster.lifecycle import is_resumable
    from cluster.settings import ConfigError

    resume = out if out is not None and is_resumable(out) else None
    hint = f"; finish the run with `{resume_command(out)}` once that is fixed" if resume else ""
    if type(error).__name__ == "SchedulerUnreachable":
        return f"{error}{hint}"
    if isinstance(error, ConfigError):
        return str(error)
    if isinstance(error, OSError):
        return describe_os_error(error, resume)
    if isinstance(error, InputChangedError) and resume:
        # The saved hashes let a resume check a restored input byte for byte.
        return (f"{error}; put the original back and finish the run with "
                f"`{resume_command(out)}`, or start it again with --overwrite")
    if isinstance(error, InputChangedError):
        return f"{error}; results from it cannot be trusted, so start the run again with --overwrite"
    if isinstance(error, TaskError):
        return f"{error}{hint}"
    if type(error).__name__ == "KilledWorker":
        return ("workers died while running the same task several times, most often because "
                "they ran out of memory; lower --shard-size or give each worker more memory"
                f"{hint}")
    if type(error).__name__ == "DamagedPartError":
        return f"{error}; finish the run with `{resume_command(out)}`" if resume else str(error)
    if type(error).__name__ == "AccountError":
        return f"{error}; this is a fault in Clearance, please report it"
    advice = "" if debug else " (rerun with --debug for the traceback)"
    return f"run failed: {type(error).__name__} at {code_location(error)}{hint}{advice}"
