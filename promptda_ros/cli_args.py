# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""The one validation layer of the package's CLIs: argument types, output checks, exit codes.

* :class:`CliParser` - argparse with one-line usage errors (``error: ...``, exit 2);
* ``type=`` functions: :func:`number` (finite, in a range) and its shortcuts, :func:`hw_arg`
  (``HxW`` sizes), :func:`topics_arg`, :func:`device_arg` (a torch device that exists);
* output checks before any work: :func:`writable_folder`, :func:`new_folder_possible`,
  :func:`writable_file`;
* :func:`run_cli` - a CLI's work with one-line errors (exit 1) and Ctrl-C (exit 130,
  :func:`interrupted_exit`); with ``stop_within_s`` a Ctrl-C ends the process within that time
  even when the work cannot notice it (:func:`watch_interrupts`).
"""

import argparse
import gc
import math
import os
import signal
import sys
import tempfile
import threading
import time

from promptda_ros.core.errors import InputError, PromptDAError


def parse_hw(text: str) -> tuple[int, int]:
    """Parse ``'HxW'`` (e.g. ``'192x256'``) into (height, width) pixels, both >= 1.

    Raises:
        InputError: not two positive integers separated by 'x'.
    """
    parts = str(text).strip().lower().split('x')
    if len(parts) != 2 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise InputError(f"expected HxW with positive integers such as 192x256, got '{text}'")
    return int(parts[0]), int(parts[1])


def hw_arg(text: str) -> tuple[int, int]:
    """Argparse ``type=`` for an ``HxW`` size (:func:`parse_hw`)."""
    try:
        return parse_hw(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def topics_arg(text: str) -> dict[str, str]:
    """Argparse ``type=`` for ``KEY=TOPIC,...`` -> ``{'KEY_topic': TOPIC}`` (bag topics)."""
    out = {}
    for item in filter(None, text.split(',')):
        key, sep, topic = item.partition('=')
        if not sep or not key.strip() or not topic.strip():
            raise argparse.ArgumentTypeError(f"expected KEY=TOPIC pairs, got '{item}'")
        out[f'{key.strip()}_topic'] = topic.strip()
    return out


class CliParser(argparse.ArgumentParser):
    """ArgumentParser whose usage errors are one line, ``error: ...``, with exit status 2."""

    def error(self, message: str):
        """Print ``error: MESSAGE (see PROG --help)`` on stderr and exit 2."""
        self.exit(2, f'error: {message} (see {self.prog} --help)\n')


def _bounds_text(kind: type, low, high, low_open: bool, high_open: bool) -> str:
    what = 'an integer' if kind is int else 'a finite number'
    lo, hi = (None if v is None else f'{v:d}' if kind is int else f'{v:g}' for v in (low, high))
    if lo is not None and hi is not None:
        return f"{what} in {'(' if low_open else '['}{lo}, {hi}{')' if high_open else ']'}"
    if lo is not None:
        return f"{what} {'>' if low_open else '>='} {lo}"
    if hi is not None:
        return f"{what} {'<' if high_open else '<='} {hi}"
    return what


def number(kind: type = float, low: float | None = None, high: float | None = None,
           low_open: bool = False, high_open: bool = False):
    """Return an argparse ``type=`` for a finite int or float inside a range.

    Args:
        kind: ``int`` or ``float``.
        low, high: bounds (None = unbounded), inclusive unless ``low_open`` / ``high_open``.

    Returns:
        a callable turning the argument text into ``kind`` or raising
        ``argparse.ArgumentTypeError`` with the allowed range, e.g. 'must be a finite number
        > 0, got 'inf''; argparse prefixes the flag's name.
    """
    allowed = _bounds_text(kind, low, high, low_open, high_open)

    def parse(text: str):
        try:
            value = kind(text)
        except (TypeError, ValueError):
            value = None
        if value is None or not math.isfinite(value) or \
                (low is not None and (value <= low if low_open else value < low)) or \
                (high is not None and (value >= high if high_open else value > high)):
            raise argparse.ArgumentTypeError(f"must be {allowed}, got '{text}'")
        return value
    parse.__name__ = allowed  # argparse names the type in some messages
    return parse


positive_int = number(int, 1)
nonnegative_int = number(int, 0)
positive_float = number(float, 0.0, low_open=True)
nonnegative_float = number(float, 0.0)
fraction = number(float, 0.0, 1.0)
seed_int = number(int, 0, 2 ** 32 - 1)


def device_arg(text: str) -> str:
    """Argparse ``type=`` for a torch device that exists here: cpu, cuda, cuda:N or mps."""
    name = str(text).strip().lower()
    kind, _, index = name.partition(':')
    if kind == 'cpu' and not index:
        return 'cpu'
    import torch
    if kind == 'cuda' and (not index or index.isdigit()):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise argparse.ArgumentTypeError(f"'{text}': CUDA is not available here; use cpu")
        if index and int(index) >= count:
            raise argparse.ArgumentTypeError(
                f"'{text}': only {count} CUDA device(s) (cuda:0..cuda:{count - 1})")
        return name
    if name == 'mps' and getattr(torch.backends, 'mps', None) is not None and \
            torch.backends.mps.is_available():
        return name
    raise argparse.ArgumentTypeError(f"must be cpu, cuda, cuda:N or mps (where available), "
                                     f"got '{text}'")


def _probe_write(folder: str, flag: str) -> None:
    try:
        fd, probe = tempfile.mkstemp(prefix='.write-check-', dir=folder)
        os.close(fd)
        os.remove(probe)
    except OSError as exc:
        raise InputError(f'{flag} {folder}: cannot write there ({exc.strerror or exc})') from None


def writable_folder(path: str, flag: str) -> str:
    """Create ``path`` if needed and check that files can be written into it.

    Raises:
        InputError: one line naming the flag: a file in the way, or no permission.
    """
    if os.path.exists(path) and not os.path.isdir(path):
        raise InputError(f'{flag} {path} exists and is not a folder')
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise InputError(f'{flag} {path}: cannot create it ({exc.strerror or exc})') from None
    _probe_write(path, flag)
    return path


def new_folder_possible(path: str, flag: str) -> str:
    """Check that the folder ``path`` does not exist yet and can be created (it is not kept).

    Parent folders are created; ``path`` itself is made and removed again, for tools that
    insist on creating it themselves.

    Raises:
        InputError: ``path`` exists, or it cannot be created or written into.
    """
    if os.path.lexists(path):
        raise InputError(f'{flag} {path} already exists; choose a new folder')
    parent = os.path.dirname(os.path.abspath(path))
    writable_folder(parent, flag)
    try:
        os.mkdir(path)
    except OSError as exc:
        raise InputError(f'{flag} {path}: cannot create it ({exc.strerror or exc})') from None
    try:
        _probe_write(path, flag)
    finally:
        os.rmdir(path)
    return path


def writable_file(path: str, flag: str) -> str:
    """Check that the file ``path`` can be written: its folder exists and takes files.

    Raises:
        InputError: a folder in the way, a missing folder or no permission.
    """
    if os.path.isdir(path):
        raise InputError(f'{flag} {path} is a folder, not a file')
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise InputError(f'{flag} {path}: folder {folder} does not exist')
    _probe_write(folder, flag)
    return path


INTERRUPTED = 130
"""Exit status after Ctrl-C (128 + SIGINT), as shells report it."""
STOP_WITHIN_S = 30.0
"""Longest time a training CLI takes to end after Ctrl-C (its checkpoint writes included)."""


def watch_interrupts(what: str, stop_within_s: float) -> None:
    """End the process ``stop_within_s`` seconds after a Ctrl-C, whatever the main thread does.

    Python raises KeyboardInterrupt only when the main thread runs Python code again; a main
    thread held in native code (a numerical library's thread pool, an interpreter shutdown that
    waits on a thread) would keep a Ctrl-C'd CLI alive. The C-level signal handler also writes
    the signal number to a wake-up pipe from whichever thread receives it; a daemon thread reads
    it and, if the process still runs after the grace time, prints the one ``interrupted:`` line
    and exits with 130. Files the CLIs write are renamed into place whole, so a forced exit
    leaves the last complete checkpoint. Call from the main thread; no-op elsewhere.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    try:
        signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    except ValueError:  # not the main thread of the main interpreter
        os.close(read_fd)
        os.close(write_fd)
        return

    def watch() -> None:
        while True:
            data = os.read(read_fd, 64)
            if signal.SIGINT in data:
                time.sleep(stop_within_s)
                print(f'interrupted: {what} (the work did not stop within {stop_within_s:.0f} s '
                      'of Ctrl-C; ended)', file=sys.stderr, flush=True)
                os._exit(INTERRUPTED)

    threading.Thread(target=watch, name='interrupt-watch', daemon=True).start()


def run_cli(body, interrupted: str = 'nothing was written',
            stop_within_s: float | None = None) -> int:
    """Run a CLI's work; turn project errors and Ctrl-C into one stderr line and a status.

    Args:
        body: callable doing the work, returning the exit status (None = 0).
        interrupted: what the user finds after Ctrl-C (e.g. 'continue with --resume').
        stop_within_s: with a value, a Ctrl-C ends the process at the latest that many seconds
            later (:func:`watch_interrupts`); None = Python's own handling only.

    Returns:
        body's status; 1 after a project error or OSError (``error: ...``); 130 after Ctrl-C
        (``interrupted: ...``).
    """
    if stop_within_s is not None:
        watch_interrupts(interrupted, stop_within_s)
    stopped = False
    try:
        status = body()
    except (PromptDAError, OSError) as exc:
        text = str(exc).strip()
        print('error: %s' % (text.splitlines()[0] if text else type(exc).__name__),
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        stopped = True
    if stopped:
        return interrupted_exit(interrupted)
    return 0 if status is None else int(status)


def interrupted_exit(what: str) -> int:
    """Print the one ``interrupted: WHAT`` line after Ctrl-C; return the exit status 130.

    Call it once the interrupted work is left (its ``finally`` blocks done): whatever the
    interrupted frames held (progress bars print their last state when closed) is released
    first, so the reason is the last line.
    """
    gc.collect()
    sys.stdout.flush()
    sys.stderr.flush()
    print(f'interrupted: {what}', file=sys.stderr)
    return INTERRUPTED
