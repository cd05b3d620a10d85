# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Image-driven synchronisation: keep recent LiDAR sweeps, pick the nearest one.

Stamps are integer nanoseconds everywhere (never float seconds, which lose precision
at epoch scale: a float64 holds ~0.2 us resolution around 1.7e9 s).
"""

import bisect
import threading
from typing import Any, Optional

import numpy as np

from promptda_ros.core.errors import SyncError


def _as_ns(value, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise SyncError(f'{name} must be integer nanoseconds, got {type(value).__name__} '
                        f'{value!r}')
    return int(value)


class NearestSweepCache:
    """Capacity-bounded cache of timestamped items with nearest-stamp lookup.

    ``match(t)`` returns the item whose stamp is nearest to ``t`` within ``slop_ns``
    (inclusive); on a tie between an older and a newer item the newer wins. Items may
    arrive out of order; adding an existing stamp replaces its item. When full, the oldest
    stamp is evicted. Thread-safe (one lock), so a LiDAR callback may add while an image
    callback matches.
    """

    def __init__(self, slop_ns: int, capacity: int = 10):
        """Create a cache matching within ``slop_ns`` nanoseconds, holding ``capacity`` items."""
        self.slop_ns = _as_ns(slop_ns, 'slop_ns')
        if self.slop_ns < 0:
            raise SyncError(f'slop_ns must be >= 0, got {self.slop_ns}')
        if isinstance(capacity, bool) or not isinstance(capacity, (int, np.integer)) \
                or capacity < 1:
            raise SyncError(f'capacity must be an integer >= 1, got {capacity!r}')
        self.capacity = int(capacity)
        self._stamps: list = []
        self._items: list = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """Return the number of cached items."""
        return len(self._stamps)

    @property
    def stamps(self) -> list:
        """Return the cached stamps in integer nanoseconds, oldest first."""
        with self._lock:
            return list(self._stamps)

    def clear(self) -> None:
        """Drop every cached item (e.g. after the clock jumped backwards)."""
        with self._lock:
            self._stamps.clear()
            self._items.clear()

    def add(self, stamp_ns: int, item: Any) -> None:
        """Insert ``item`` at ``stamp_ns`` (integer nanoseconds)."""
        stamp = _as_ns(stamp_ns, 'stamp_ns')
        with self._lock:
            i = bisect.bisect_left(self._stamps, stamp)
            if i < len(self._stamps) and self._stamps[i] == stamp:
                self._items[i] = item
                return
            self._stamps.insert(i, stamp)
            self._items.insert(i, item)
            if len(self._stamps) > self.capacity:
                del self._stamps[0]
                del self._items[0]

    def match(self, stamp_ns: int) -> Optional[tuple]:
        """Return ``(stamp_ns, item)`` nearest to ``stamp_ns`` within the slop, else None."""
        stamp = _as_ns(stamp_ns, 'stamp_ns')
        with self._lock:
            if not self._stamps:
                return None
            i = bisect.bisect_left(self._stamps, stamp)
            best = None
            best_dt = None
            # Candidates: the last stamp < t (i - 1) and the first >= t (i); newer wins ties.
            for j in (i - 1, i):
                if 0 <= j < len(self._stamps):
                    dt = abs(self._stamps[j] - stamp)
                    if best_dt is None or dt <= best_dt:
                        best, best_dt = j, dt
            if best is None or best_dt > self.slop_ns:
                return None
            return self._stamps[best], self._items[best]
