# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""What keeps a node serving, for both nodes (no ROS here).

* :class:`Rejected` - an input refused for a reason; ``kind`` is the diagnostics error kind it is
  counted under (``bad_image``, ``bad_cloud``, ``tf``, ...);
* :class:`CallbackGuard` - wraps every subscription, timer and service callback so that no
  exception ends the node: a :class:`Rejected` is counted under its kind, anything else under the
  callback's kind; the log is throttled **per kind** (a bad cloud right after a bad image is still
  logged);
* :class:`LatestSlot` / :class:`LatestWorker` - the one latest-item worker: a thread runs a slow
  function (inference) on the newest submitted item; a newer item replaces one still waiting
  (counted as dropped), so latency stays bounded when inference is slower than the input.
"""

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
    """One-slot buffer: ``put`` replaces a waiting item (returning it), ``take`` blocks."""

    def __init__(self) -> None:
        """Create an empty open slot."""
        self._cond = threading.Condition()
        self._item: Any = None
        self._closed = False

    def put(self, item: Any) -> Any:
        """Store ``item``; return the item it replaced (a dropped one) or None."""
        with self._cond:
            replaced, self._item = self._item, item
            self._cond.notify()
            return replaced

    def take(self, timeout: Optional[float] = None) -> Any:
        """Return the waiting item, waiting up to ``timeout`` s; None when closed or timed out."""
        with self._cond:
            if self._item is None and not self._closed:
                self._cond.wait(timeout)
            item, self._item = self._item, None
            return None if self._closed else item

    @property
    def closed(self) -> bool:
        """True once ``close`` was called."""
        return self._closed

    def close(self) -> Any:
        """Wake the consumer for good; return the item still waiting (or None)."""
        with self._cond:
            self._closed = True
            item, self._item = self._item, None
            self._cond.notify_all()
            return item


class LatestWorker:
    """Run ``process(item)`` in a thread on the newest item (perception and policy inference).

    ``put`` never blocks: a newer item replaces one that has not started yet (returned to the
    caller and counted in :attr:`dropped`). Results go to ``on_result(item, output)``; an
    exception raised by ``process`` goes to ``on_error(item, exc)`` and the worker keeps running.

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
    """

    def __init__(self, process: Callable[[Any], Any],
                 on_result: Optional[Callable[[Any, Any], None]] = None,
                 on_error: Optional[Callable[[Any, BaseException], None]] = None,
                 name: str = 'promptda-worker',
                 alive: Optional[Callable[[], bool]] = None) -> None:
        """Create a stopped worker; :meth:`start` starts its thread."""
        self._process = process
        self._on_result = on_result
        self._on_error = on_error
        self._alive = alive
        self._slot = LatestSlot()
        self._lock = threading.Lock()
        self.dropped = 0
        self.completed = 0
        self.last_latency_s = float('nan')
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        """Start the worker thread."""
        self._thread.start()

    def put(self, item: Any) -> Any:
        """Offer ``item``; return the waiting item it replaced (dropped) or None."""
        replaced = self._slot.put(item)
        if replaced is not None:
            with self._lock:
                self.dropped += 1
        return replaced

    def stop(self, timeout_s: float = 5.0) -> Any:
        """Stop the thread, wait up to ``timeout_s`` s for a running item; return one waiting."""
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
