# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""What keeps a node serving, for both nodes (no ROS here).

* :class:`Rejected` - an input refused for a reason; ``kind`` is the diagnostics error kind it is
  counted under (``bad_image``, ``bad_cloud``, ``tf``, ...);
* :class:`CallbackGuard` - wraps every subscription, timer and service callback so that no
  exception ends the node: a :class:`Rejected` is counted under its kind, anything else under the
  callback's kind; the log is throttled **per kind** (a bad cloud right after a bad image is still
  logged);
* :class:`LatestSlot` / :class:`LatestWorker` - the one newest-items worker: a thread runs a slow
  function (inference) on submitted items in order; at most ``capacity`` wait, and a new item
  pushes the oldest waiting one out (counted as dropped), so latency stays bounded when inference
  is slower than the input. ``capacity`` 1 serves only the newest item; 2 also serves a frame
  that became ready together with the next one (a LiDAR sweep completing two camera frames).
* :func:`tune_allocator` - keeps freed frame-sized buffers in the process instead of handing them
  back to the kernel after every frame (glibc only), which costs a worker thread a page fault per
  4 KiB of every new array.
"""

from collections import deque
import ctypes
import os
import sys
import threading
import time
import traceback
from typing import Any, Callable, Optional

from promptda_ros.core.errors import PromptDAError


class Rejected(PromptDAError):
    """An input refused for a reason the diagnostics count (typed, instead of tagged errors).

    Attributes:
        kind: diagnostics error kind, e.g. ``'bad_image'``.
        stamp_ns: stamp (integer ns) of the frame it belongs to, or None.
    """

    def __init__(self, kind: str, error: Any, stamp_ns: Optional[int] = None) -> None:
        """Create a rejection of ``kind`` with the reason ``error`` (an exception or text)."""
        super().__init__(str(error))
        self.kind = kind
        self.stamp_ns = stamp_ns


def rejecting(kind: str, errors: tuple = (PromptDAError,)):
    """Return a context manager turning ``errors`` raised inside it into :class:`Rejected`.

    ``with rejecting('bad_cloud'): points = cloud_to_xyz(msg)``; a :class:`Rejected` raised
    inside passes unchanged.
    """
    return _Rejecting(kind, errors)


class _Rejecting:
    def __init__(self, kind: str, errors: tuple) -> None:
        self.kind = kind
        self.errors = errors

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc is None or isinstance(exc, Rejected) or not isinstance(exc, self.errors):
            return  # nothing, or not ours: it propagates unchanged
        raise Rejected(self.kind, exc) from exc


class KindThrottle:
    """Allow one event per ``period_s`` for each kind (thread-safe)."""

    def __init__(self, period_s: float = 2.0) -> None:
        """Create a throttle of ``period_s`` seconds per kind."""
        self.period_s = float(period_s)
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def allow(self, kind: str) -> bool:
        """Return True when an event of ``kind`` may be reported now."""
        now = time.monotonic()
        with self._lock:
            last = self._last.get(kind)
            if last is not None and now - last < self.period_s:
                return False
            self._last[kind] = now
            return True


class CallbackGuard:
    """Wrap callbacks so that no exception escapes into the executor.

    Args:
        logger: object with ``warning(str)`` and ``error(str)`` (an rclpy logger).
        count: ``count(kind, message)`` called for every caught exception (diagnostics).
        throttle_s: log at most once per ``throttle_s`` seconds for each error kind.
    """

    def __init__(self, logger: Any, count: Callable[[str, str], None],
                 throttle_s: float = 2.0) -> None:
        """Create a guard logging through ``logger`` and counting through ``count``."""
        self._logger = logger
        self._count = count
        self.throttle = KindThrottle(throttle_s)

    def report(self, kind: str, error: BaseException) -> str:
        """Count and (throttled per kind) log one caught exception; return its kind."""
        if isinstance(error, Rejected):
            kind = error.kind
            self._count(kind, str(error))
            if self.throttle.allow(kind):
                self._logger.warning(f'{kind}: {error}')
            return kind
        self._count(kind, repr(error))
        if self.throttle.allow(kind):
            self._logger.error(f'{kind}: unexpected {error!r}\n{traceback.format_exc()}')
        return kind

    def wrap(self, kind: str, callback: Callable[..., Any],
             fallback: Optional[Callable[..., Any]] = None) -> Callable[..., Any]:
        """Return ``callback`` guarded: an exception is reported and ``fallback(*args)`` returned.

        Args:
            kind: error kind for exceptions other than :class:`Rejected`.
            callback: the subscription / timer / service callback.
            fallback: builds the return value after an exception (e.g. the service response);
                None returns None.
        """
        def guarded(*args: Any) -> Any:
            try:
                return callback(*args)
            except Exception as error:  # noqa: B902 - the point: nothing escapes into rclpy
                self.report(kind, error)
                return None if fallback is None else fallback(*args)

        guarded.__name__ = getattr(callback, '__name__', 'callback')
        guarded.__doc__ = getattr(callback, '__doc__', None)
        return guarded


class LatestSlot:
    """Bounded FIFO of the newest items: ``put`` pushes out the oldest when full, ``take`` blocks.

    Args:
        capacity: items kept waiting (>= 1); 1 = only the newest.
    """

    def __init__(self, capacity: int = 1) -> None:
        """Create an empty open buffer."""
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f'capacity must be an integer >= 1, got {capacity!r}')
        self._cond = threading.Condition()
        self._items: deque[Any] = deque()
        self._capacity = capacity
        self._closed = False

    def put(self, item: Any) -> Any:
        """Append ``item``; return the oldest waiting item it pushed out (dropped) or None."""
        with self._cond:
            replaced = self._items.popleft() if len(self._items) >= self._capacity else None
            self._items.append(item)
            self._cond.notify()
            return replaced

    def take(self, timeout: Optional[float] = None) -> Any:
        """Return the oldest waiting item, waiting up to ``timeout`` s (None: closed / timeout)."""
        with self._cond:
            if not self._items and not self._closed:
                self._cond.wait(timeout)
            if self._closed or not self._items:
                return None
            return self._items.popleft()

    def __len__(self) -> int:
        """Return the number of items waiting."""
        with self._cond:
            return len(self._items)

    @property
    def closed(self) -> bool:
        """True once ``close`` was called."""
        return self._closed

    def close(self) -> list[Any]:
        """Wake the consumer for good; return the items still waiting, oldest first."""
        with self._cond:
            self._closed = True
            items = list(self._items)
            self._items.clear()
            self._cond.notify_all()
            return items


class LatestWorker:
    """Run ``process(item)`` in a thread on the newest items, in order (perception inference).

    ``put`` never blocks: when ``capacity`` items are already waiting, the oldest of them is pushed
    out (returned to the caller and counted in :attr:`dropped`). Results go to ``on_result(item,
    output)``; an exception raised by ``process`` goes to ``on_error(item, exc)`` and the worker
    keeps running.

    Shutdown: a SIGINT shuts the ROS context down before ``main`` can stop the worker, so a frame
    in flight then fails to publish. With ``alive`` given, an exception raised while
    ``alive()`` is False ends the worker quietly (no error report): the process is going away.

    Args:
        process: callable(item) -> output, the slow part.
        on_result: callable(item, output), or None.
        on_error: callable(item, exception), or None (then the exception is dropped silently:
            give one).
        name: thread name.
        alive: callable() -> bool, False once the node's context is shut down (e.g.
            ``node.context.ok``), or None.
        capacity: items waiting at most (>= 1): 1 = the newest only.
    """

    def __init__(self, process: Callable[[Any], Any],
                 on_result: Optional[Callable[[Any, Any], None]] = None,
                 on_error: Optional[Callable[[Any, BaseException], None]] = None,
                 name: str = 'promptda-worker',
                 alive: Optional[Callable[[], bool]] = None, capacity: int = 1) -> None:
        """Create a stopped worker; :meth:`start` starts its thread."""
        self._process = process
        self._on_result = on_result
        self._on_error = on_error
        self._alive = alive
        self._slot = LatestSlot(capacity)
        self._lock = threading.Lock()
        self.dropped = 0
        self.completed = 0
        self.last_latency_s = float('nan')
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        """Start the worker thread."""
        self._thread.start()

    def put(self, item: Any) -> Any:
        """Offer ``item``; return the oldest waiting item it pushed out (dropped) or None."""
        replaced = self._slot.put(item)
        if replaced is not None:
            with self._lock:
                self.dropped += 1
        return replaced

    def stop(self, timeout_s: float = 5.0) -> list[Any]:
        """Stop the thread, wait up to ``timeout_s`` s for a running item; return those waiting."""
        left = self._slot.close()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout_s)
        return left

    def _run(self) -> None:
        while True:
            item = self._slot.take(timeout=0.5)
            if item is None:
                if self._slot.closed:
                    return
                continue
            try:
                self._serve(item)
            except Exception as error:  # noqa: B902 - reported, the worker keeps serving
                if self._shutting_down():
                    self._slot.close()
                    return  # e.g. a publish on a context SIGINT already shut down: the end
                if self._on_error is not None:
                    try:
                        self._on_error(item, error)
                    except Exception:  # noqa: B902 - a failing handler must not stop it
                        pass

    def _shutting_down(self) -> bool:
        """Return True when ``alive`` says the process is shutting down."""
        if self._alive is None:
            return False
        try:
            return not self._alive()
        except Exception:  # noqa: B902 - a context that cannot even answer is gone
            return True

    def _serve(self, item: Any) -> None:
        start = time.perf_counter()
        output = self._process(item)
        self.last_latency_s = time.perf_counter() - start
        with self._lock:
            self.completed += 1
        if self._on_result is not None:
            self._on_result(item, output)


# glibc mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 32 << 20
"""Blocks up to this size come from the heap, not a fresh mmap (glibc's largest allowed value)."""
TRIM_THRESHOLD_BYTES = 256 << 20
"""Free memory at the top of a heap is returned to the kernel only above this size."""


def tune_allocator() -> str:
    """Make glibc keep freed frame buffers for reuse; return what was done, in words.

    glibc serves a large block (a 640 x 480 frame is ~1 MiB) by a fresh ``mmap`` and, in a
    thread's own arena, hands freed memory back with ``madvise`` once the free top of the heap
    passes the trim threshold: every frame then refaults its arrays page by page (zero-filled by
    the kernel). In the perception node's worker that was a third of its CPU time (sys) and
    halved the rate the node served 640 x 480 frames at (bench/soak.py). Fixed thresholds (blocks
    up to 32 MiB from the heap, trim above 256 MiB) keep the working set of a frame resident;
    the resident size stays bounded by the largest frame's working set.

    Call it once, early in a process's ``main`` (it changes the process's allocator). It does
    nothing with ``PROMPTDA_TUNE_ALLOCATOR=0``, where the user tuned glibc's allocator
    (``GLIBC_TUNABLES`` with ``glibc.malloc``, or ``MALLOC_MMAP_THRESHOLD_`` /
    ``MALLOC_TRIM_THRESHOLD_`` set) or where the C library is not glibc.

    Returns:
        'tuned', or the reason it was left alone.
    """
    if os.environ.get('PROMPTDA_TUNE_ALLOCATOR', '1').strip() == '0':
        return 'left alone: PROMPTDA_TUNE_ALLOCATOR=0'
    if 'glibc.malloc' in os.environ.get('GLIBC_TUNABLES', '') or any(
            name in os.environ for name in ('MALLOC_MMAP_THRESHOLD_', 'MALLOC_TRIM_THRESHOLD_')):
        return 'left alone: the environment tunes glibc malloc'
    if not sys.platform.startswith('linux'):
        return f'left alone: not Linux ({sys.platform})'
    try:
        libc = ctypes.CDLL(None)
        gnu_get_libc_version = libc.gnu_get_libc_version
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return 'left alone: the C library is not glibc'
    gnu_get_libc_version.restype = ctypes.c_char_p
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    if mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) != 1 or \
            mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) != 1:
        return f'left alone: mallopt refused (glibc {gnu_get_libc_version().decode()})'
    return 'tuned'
