"""How the ``equity`` command reports what went wrong: one line, a status, a traceback only
with ``-v``.

=======  ================================================================================
status   meaning
=======  ================================================================================
0        success
1        ``equity validate`` found problems; or an internal error (a bug: the line says so
         and ``-v`` shows the traceback to report)
2        bad input or a failed step: an :class:`equity.errors.EquityError` (file, column and
         value named), an output that cannot be written, a file system error, running out
         of memory (with the size that was attempted)
130      interrupted (Ctrl-C)
=======  ================================================================================

Warnings the toolkit states (:class:`equity.errors.EquityWarning`, and any warning raised
from its own modules) are printed as ``equity <command>: warning: <message>`` on one line;
other libraries' warnings only with ``-v``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import re
import resource
import sys
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TextIO

from equity.errors import EquityError, EquityWarning

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_BUG",
    "EXIT_INTERRUPTED",
    "configure_logging",
    "memory_message",
    "report_errors",
]

EXIT_BAD_INPUT = 2
EXIT_BUG = 1
EXIT_INTERRUPTED = 130

_PACKAGE = str(Path(__file__).resolve().parent)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _peak_memory() -> str:
    """This process's peak resident memory, for the out-of-memory line."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    scale = 1 if sys.platform == "darwin" else 1024
    return f"{peak * scale / 1e9:,.1f} GB"


def memory_message(exc: MemoryError) -> str:
    """What ran out: numpy names the size it tried to allocate; else the peak so far.

    Examples
    --------
    >>> memory_message(MemoryError("Unable to allocate 7.45 GiB for an array with shape "
    ...                            "(1000000000,) and data type float64"))[:50]
    'out of memory: Unable to allocate 7.45 GiB for an '
    """
    text = _one_line(str(exc))
    if not re.search(r"\d", text):
        text = "no size given by the step that failed"
    return (
        f"out of memory: {text} (peak memory of this run {_peak_memory()}); use fewer states, a "
        "coarser [grid] resolution or a machine with more memory"
    )


def _describe_os_error(exc: OSError) -> str:
    where = exc.filename if exc.filename is not None else ""
    other = f" -> {exc.filename2}" if exc.filename2 is not None else ""
    reason = exc.strerror or _one_line(str(exc))
    return f"{where}{other}: {reason}" if where else reason


class _LineFormatter(logging.Formatter):
    """Warnings logged by the toolkit read like its other warnings; details keep their logger."""

    def __init__(self, command: str) -> None:
        super().__init__("%(name)s: %(message)s")
        self.command = command

    def format(self, record: logging.LogRecord) -> str:
        if record.levelno >= logging.WARNING:
            level = "error" if record.levelno >= logging.ERROR else "warning"
            return f"equity {self.command}: {level}: {_one_line(record.getMessage())}"
        return super().format(record)


def configure_logging(command: str, *, verbose: bool) -> None:
    """Log lines on stderr: details with ``-v``, warnings always, each on one line."""
    root = logging.getLogger()
    if root.handlers:  # configured already (a notebook, a test runner)
        return
    handler = logging.StreamHandler()
    handler.setFormatter(_LineFormatter(command))
    root.addHandler(handler)
    root.setLevel(logging.INFO if verbose else logging.WARNING)


@contextlib.contextmanager
def _stated_warnings(command: str, *, verbose: bool, stream: TextIO) -> Iterator[None]:
    """Print the toolkit's warnings as one line each (others only with ``-v``)."""

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        ours = issubclass(category, EquityWarning) or str(filename).startswith(_PACKAGE)
        if ours:
            print(f"equity {command}: warning: {_one_line(str(message))}", file=stream)
        elif verbose:
            print(
                f"equity {command}: warning ({category.__name__}, {filename}:{lineno}): "
                f"{_one_line(str(message))}",
                file=stream,
            )

    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.simplefilter("always", EquityWarning)
        warnings.showwarning = show
        yield


def report_errors(
    command: str,
    func: Callable[[argparse.Namespace, Sequence[str]], int],
    args: argparse.Namespace,
    argv: Sequence[str],
    *,
    verbose: bool = False,
    stream: TextIO | None = None,
) -> int:
    """Run one subcommand; turn whatever goes wrong into one line on stderr and a status."""
    err = stream if stream is not None else sys.stderr

    def fail(status: int, reason: str) -> int:
        if verbose:
            traceback.print_exc(file=err)
        print(f"equity {command}: {reason}", file=err)
        return status

    try:
        with _stated_warnings(command, verbose=verbose, stream=err):
            return func(args, argv)
    except EquityError as exc:
        return fail(EXIT_BAD_INPUT, f"error: {_one_line(str(exc))}")
    except MemoryError as exc:
        return fail(EXIT_BAD_INPUT, f"error: {memory_message(exc)}")
    except KeyboardInterrupt:
        return fail(EXIT_INTERRUPTED, "interrupted")
    except OSError as exc:  # the file system: permissions, disk full, a path that vanished
        return fail(EXIT_BAD_INPUT, f"error: {_describe_os_error(exc)}")
    except Exception as exc:  # a bug: one line, the traceback with -v
        where = "" if verbose else "; rerun with -v for the traceback and please report it"
        return fail(EXIT_BUG, f"internal error: {type(exc).__name__}: {_one_line(str(exc))}{where}")
