# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Image-driven synchronisation: keep recent LiDAR sweeps, pair an image with the nearest one.

One pairing rule, whether the sweeps sit in :class:`NearestSweepCache` (what the frame assembler
of :mod:`promptda_ros.core.assembly` keeps, for the node and the bag reader alike) or in a
``message_filters.Cache`` (:func:`match_filter_cache`, for code that keeps its own; both are
held to a recording of the real package in the tests):

* **Storage** follows ``message_filters.Cache``: entries are kept in arrival order; when more
  than ``capacity`` are held, the OLDEST INSERTED one is dropped, whatever its stamp (a late
  sweep with an old stamp stays until ``capacity`` newer arrivals push it out).
* **Candidates** for an image stamped ``t`` are the entries with
  ``t - slop <= stamp <= t + slop`` (both ends inclusive; the lower bound is clamped at 0, so a
  clock starting at 0 never asks for a negative time) -- ``Cache.getInterval(t - slop, t + slop)``.
* **Selection** (:func:`select_nearest`): the candidate with the smallest ``|stamp - t|``; on a
  tie the LATER stamp wins (the sweep after the image); for equal stamps the LATER ARRIVAL wins.
* **Jumps back in time** (bag played with ``--loop``, simulator reset) -- a sweep stamped more
  than ``jump_back_ns`` (default 1 s) before the newest cached sweep clears the cache before it
  is stored; an image stamped earlier than the previous image drops every cached sweep stamped
  after ``image + slop`` (sweeps of the timeline before the jump; a sweep of the new timeline
  that arrived before the image is kept). Both are reported (``add`` / ``note_image`` return
  True) and counted once per jump in :attr:`NearestSweepCache.jumps_back`. Smaller backwards
  steps on the sweep stream are late sweeps and are stored.
* A run-time slop change applies to the next match; cached entries are kept.

Stamps are integer nanoseconds everywhere (never float seconds, which lose precision at epoch
scale: a float64 holds ~0.2 us resolution around 1.7e9 s) and never negative; a duration in
seconds (``slop_s``, a timeout) becomes nanoseconds through :func:`seconds_to_ns` only.
"""

import threading
from typing import Any, Callable, Iterable, NamedTuple, Optional

import numpy as np

from promptda_ros.core.errors import SyncError

DEFAULT_JUMP_BACK_NS = 1_000_000_000
"""A sweep this much (ns) older than the newest cached one means the clock jumped back."""


def seconds_to_ns(seconds: float) -> int:
    """Return a duration in seconds (a slop, a timeout) as integer nanoseconds, rounded.

    The one place where seconds become nanoseconds: rounding (not truncation), so 0.05 s is
    50_000_000 ns whatever the float's last bit.

    Raises:
        SyncError: ``seconds`` is not a finite number.
    """
    value = float(seconds)
    if not np.isfinite(value):
        raise SyncError(f'a duration must be a finite number of seconds, got {seconds!r}')
    return int(round(value * 1e9))


class Match(NamedTuple):
    """The selected entry: its stamp (integer ns) and the stored item."""

    stamp_ns: int
    item: Any


def _as_ns(value, name: str) -> int:
    """Return ``value`` as a non-negative Python int (nanoseconds) or raise SyncError."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise SyncError(f'{name} must be integer nanoseconds, got {type(value).__name__} '
                        f'{value!r}')
    if value < 0:
        raise SyncError(f'{name} must be >= 0 nanoseconds, got {int(value)}')
    return int(value)


def _as_capacity(value) -> int:
    """Return ``value`` as an int >= 1 or raise SyncError."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise SyncError(f'capacity must be an integer >= 1, got {value!r}')
    return int(value)


def interval_bounds(t_ns: int, slop_ns: int) -> tuple[int, int]:
    """Return the inclusive candidate window ``(max(0, t - slop), t + slop)`` in integer ns.

    Args:
        t_ns: image stamp, integer nanoseconds >= 0.
        slop_ns: pairing tolerance, integer nanoseconds >= 0.
    """
    t = _as_ns(t_ns, 'stamp_ns')
    slop = _as_ns(slop_ns, 'slop_ns')
    return max(0, t - slop), t + slop


def select_nearest(candidates: Iterable[tuple[int, Any]], t_ns: int,
                   slop_ns: int) -> Optional[Match]:
    """Pick the entry to pair with an image stamped ``t_ns`` -- THE pairing rule.

    Args:
        candidates: ``(stamp_ns, item)`` pairs in arrival order (oldest arrival first), stamps
            integer nanoseconds; entries outside ``[t - slop, t + slop]`` are ignored, so a
            whole cache or a ``getInterval`` result may be passed.
        t_ns: image stamp, integer nanoseconds >= 0.
        slop_ns: pairing tolerance, integer nanoseconds >= 0 (inclusive).

    Returns:
        The :class:`Match` with the smallest ``|stamp - t|``; ties go to the later stamp, equal
        stamps to the later arrival. None when no entry is within the slop.
    """
    t = _as_ns(t_ns, 'stamp_ns')
    slop = _as_ns(slop_ns, 'slop_ns')
    best: Optional[Match] = None
    best_key: Optional[tuple[int, int]] = None
    for stamp, item in candidates:
        stamp = int(stamp)
        dt = abs(stamp - t)
        if dt > slop:
            continue
        key = (dt, -stamp)
        if best_key is None or key <= best_key:  # '<=': a later arrival wins exact ties
            best, best_key = Match(stamp, item), key
    return best


def match_filter_cache(cache: Any, t_ns: int, slop_ns: int, stamp_ns_of: Callable[[Any], int],
                       to_time: Callable[[int], Any]) -> Optional[Match]:
    """Pair through a ``message_filters.Cache`` with the same rule as :class:`NearestSweepCache`.

    Args:
        cache: a ``message_filters.Cache`` (anything with ``getInterval(from, to)`` returning
            messages in arrival order).
        t_ns: image stamp, integer nanoseconds >= 0.
        slop_ns: pairing tolerance, integer nanoseconds >= 0.
        stamp_ns_of: message -> its header stamp in integer nanoseconds.
        to_time: integer nanoseconds (>= 0) -> the time type the cache compares with (an rclpy
            ``Time`` of the ROS clock).

    Returns:
        ``Match(stamp_ns, message)`` chosen by :func:`select_nearest`, or None.
    """
    low, high = interval_bounds(t_ns, slop_ns)
    msgs = cache.getInterval(to_time(low), to_time(high))
    return select_nearest(((stamp_ns_of(msg), msg) for msg in msgs), t_ns, slop_ns)


class StampCache:
    """``message_filters.Cache`` on integer-nanosecond stamps (not locked: one owner).

    Entries are kept in arrival order; past ``capacity`` the oldest INSERTED is dropped.
    """

    def __init__(self, capacity: int = 1) -> None:
        """Create an empty cache holding at most ``capacity`` (>= 1) entries."""
        self._capacity = _as_capacity(capacity)
        self._entries: list[tuple[int, Any]] = []

    def __len__(self) -> int:
        """Return the number of cached entries."""
        return len(self._entries)

    @property
    def capacity(self) -> int:
        """Return the maximum number of entries."""
        return self._capacity

    @capacity.setter
    def capacity(self, value: int) -> None:
        """Change the capacity; surplus entries go oldest inserted first."""
        self._capacity = _as_capacity(value)
        del self._entries[:max(0, len(self._entries) - self._capacity)]

    def entries(self) -> list[tuple[int, Any]]:
        """Return ``(stamp_ns, item)`` pairs in arrival order (a copy)."""
        return list(self._entries)

    def add(self, stamp_ns: int, item: Any) -> None:
        """Append ``item`` at ``stamp_ns`` (integer ns >= 0); drop the oldest inserted if full."""
        self._entries.append((_as_ns(stamp_ns, 'stamp_ns'), item))
        if len(self._entries) > self._capacity:
            del self._entries[0]

    def clear(self) -> None:
        """Drop every entry."""
        self._entries.clear()

    def keep(self, predicate: Callable[[int], bool]) -> int:
        """Keep entries whose stamp (integer ns) passes ``predicate``; return the count dropped."""
        before = len(self._entries)
        self._entries = [entry for entry in self._entries if predicate(entry[0])]
        return before - len(self._entries)

    def get_interval(self, from_ns: int, to_ns: int) -> list[tuple[int, Any]]:
        """Return entries with ``from_ns <= stamp <= to_ns`` in arrival order (``getInterval``)."""
        low, high = _as_ns(from_ns, 'from_ns'), _as_ns(to_ns, 'to_ns')
        if low > high:
            raise SyncError(f'interval start {low} is after its end {high}')
        return [entry for entry in self._entries if low <= entry[0] <= high]

    def get_elem_after_time(self, t_ns: int) -> Optional[tuple[int, Any]]:
        """Return the first entry in arrival order stamped ``>= t_ns`` (``getElemAfterTime``)."""
        t = _as_ns(t_ns, 'stamp_ns')
        return next((entry for entry in self._entries if entry[0] >= t), None)

    def get_elem_before_time(self, t_ns: int) -> Optional[tuple[int, Any]]:
        """Return the last entry in arrival order stamped ``<= t_ns`` (``getElemBeforeTime``)."""
        t = _as_ns(t_ns, 'stamp_ns')
        return next((entry for entry in reversed(self._entries) if entry[0] <= t), None)

    def oldest_time(self) -> Optional[int]:
        """Return the stamp of the oldest inserted entry (``getOldestTime``), or None."""
        return self._entries[0][0] if self._entries else None

    def latest_time(self) -> Optional[int]:
        """Return the stamp of the newest inserted entry (``getLastestTime``), or None."""
        return self._entries[-1][0] if self._entries else None

    def newest_stamp(self) -> Optional[int]:
        """Return the largest cached stamp (integer ns), or None when empty."""
        return max((entry[0] for entry in self._entries), default=None)


class NearestSweepCache:
    """Thread-safe sweep cache with the pairing rule and jump-back handling of this module.

    A LiDAR callback calls :meth:`add`, the image callback :meth:`note_image` once per arriving
    image and :meth:`match` for each image it tries to pair (from any thread; one lock).
    """

    def __init__(self, slop_ns: int, capacity: int = 10,
                 jump_back_ns: int = DEFAULT_JUMP_BACK_NS) -> None:
        """Create a cache pairing within ``slop_ns`` ns, holding ``capacity`` sweeps.

        Args:
            slop_ns: pairing tolerance, integer nanoseconds >= 0.
            capacity: sweeps kept (oldest inserted dropped first), integer >= 1.
            jump_back_ns: a sweep stamped more than this (integer ns >= 0) before the newest
                cached sweep clears the cache.
        """
        self._slop_ns = _as_ns(slop_ns, 'slop_ns')
        self._jump_back_ns = _as_ns(jump_back_ns, 'jump_back_ns')
        self._store = StampCache(capacity)
        self._lock = threading.Lock()
        self._last_image_ns: Optional[int] = None
        self._sweep_jump_unpaired = False  # a sweep-side jump no image has confirmed yet
        self._jumps_back = 0

    def __len__(self) -> int:
        """Return the number of cached sweeps."""
        with self._lock:
            return len(self._store)

    @property
    def slop_ns(self) -> int:
        """Return the pairing tolerance in integer nanoseconds."""
        return self._slop_ns

    @slop_ns.setter
    def slop_ns(self, value: int) -> None:
        """Change the tolerance (integer ns >= 0) for the next match; cached sweeps stay."""
        slop = _as_ns(value, 'slop_ns')
        with self._lock:
            self._slop_ns = slop

    def set_slop(self, slop_ns: int) -> None:
        """Change the pairing tolerance at run time (integer ns >= 0); cached sweeps stay."""
        self.slop_ns = slop_ns

    @property
    def capacity(self) -> int:
        """Return the maximum number of cached sweeps."""
        return self._store.capacity

    @capacity.setter
    def capacity(self, value: int) -> None:
        """Set the maximum number of sweeps (>= 1); surplus ones go oldest inserted first."""
        with self._lock:
            self._store.capacity = value

    @property
    def jumps_back(self) -> int:
        """Return how many jumps back in time were detected (each counted once)."""
        return self._jumps_back

    @property
    def stamps(self) -> list[int]:
        """Return the cached stamps in integer nanoseconds, in arrival order."""
        with self._lock:
            return [stamp for stamp, _item in self._store.entries()]

    def clear(self) -> None:
        """Drop every cached sweep and forget the previous image stamp."""
        with self._lock:
            self._store.clear()
            self._last_image_ns = None
            self._sweep_jump_unpaired = False

    def add(self, stamp_ns: int, item: Any) -> bool:
        """Store ``item`` stamped ``stamp_ns`` (integer ns >= 0).

        Returns:
            True when the stamp lies more than ``jump_back_ns`` before the newest cached sweep:
            the cache was cleared (a jump back in time) before storing the item.
        """
        stamp = _as_ns(stamp_ns, 'stamp_ns')
        with self._lock:
            newest = self._store.newest_stamp()
            jumped = newest is not None and newest - stamp > self._jump_back_ns
            if jumped:
                self._store.clear()
                self._jumps_back += 1
                self._sweep_jump_unpaired = True
            self._store.add(stamp, item)
            return jumped

    def note_image(self, stamp_ns: int) -> bool:
        """Record an arriving image stamped ``stamp_ns`` (integer ns >= 0); call once per image.

        Returns:
            True when the stamp is earlier than the previous image's: every cached sweep stamped
            after ``stamp + slop`` was dropped (the timeline before the jump). A jump the sweep
            stream already reported is not counted twice.
        """
        stamp = _as_ns(stamp_ns, 'stamp_ns')
        with self._lock:
            previous, self._last_image_ns = self._last_image_ns, stamp
            jumped = previous is not None and stamp < previous
            if jumped:
                limit = stamp + self._slop_ns
                self._store.keep(lambda s: s <= limit)
                if not self._sweep_jump_unpaired:
                    self._jumps_back += 1
            self._sweep_jump_unpaired = False
            return jumped

    def match(self, stamp_ns: int) -> Optional[Match]:
        """Return the :class:`Match` for an image stamped ``stamp_ns`` (integer ns), or None.

        No side effects: the node may try several pending images in any order.
        """
        stamp = _as_ns(stamp_ns, 'stamp_ns')
        with self._lock:
            low, high = interval_bounds(stamp, self._slop_ns)
            return select_nearest(self._store.get_interval(low, high), stamp, self._slop_ns)
