# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""``/diagnostics`` of every node, and the perception node's run-time statistics.

Every node of the packages builds its report with :func:`status_array` (the one builder of a
one-status ``diagnostic_msgs/DiagnosticArray``) and publishes it through
:func:`diagnostics_publisher`. ``diagnostic_updater`` is not required.

Perception: :class:`PerceptionStats` collects counters from the executor and the inference
worker (thread-safe), :func:`diagnostic_array` turns a snapshot into the report and
:class:`DiagnosticsTimer` publishes it periodically.
"""

from collections import deque
from dataclasses import dataclass, field
import threading
import time
from typing import Any, Callable, Mapping

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup

# Error kinds counted separately (each is a kind of bad input the node survives).
# 'extrinsics': a sweep in another frame than the camera with neither tf2 nor configured static
# extrinsics; 'callback': an unexpected exception caught in a callback (a bug, logged loudly).
ERROR_KINDS = ('bad_image', 'bad_camera_info', 'bad_cloud', 'bad_prompt_image',
               'prompt_too_sparse', 'size_mismatch', 'calibration', 'tf', 'extrinsics',
               'inference', 'callback', 'configure', 'too_large')
STALE_AFTER_S = 2.0
"""No image for this long (s) after some arrived: the status goes STALE."""


@dataclass
class StatsSnapshot:
    """A consistent copy of the statistics (times in ms, rates in Hz)."""

    state: str = 'unconfigured'
    backend: str = ''
    images_in: int = 0
    frames_out: int = 0
    dropped: int = 0
    unpaired: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    rate_hz: float = 0.0
    latency_ms: float = float('nan')
    network_ms: float = float('nan')
    prompt_coverage: float = float('nan')
    supported_fraction: float = float('nan')
    lidar_age_ms: float = float('nan')
    tf_status: str = 'n/a'
    last_error: str = ''
    time_jumps: int = 0
    image_age_s: float = float('nan')

    @property
    def error_total(self) -> int:
        """Total number of rejected inputs over all kinds."""
        return sum(self.errors.values())


class PerceptionStats:
    """Thread-safe counters and moving averages of the node (window of the last frames)."""

    def __init__(self, window: int = 30) -> None:
        self._lock = threading.Lock()
        self._snap = StatsSnapshot(errors={kind: 0 for kind in ERROR_KINDS})
        self._out_times: deque[float] = deque(maxlen=window)
        self._latency: deque[float] = deque(maxlen=window)
        self._network: deque[float] = deque(maxlen=window)
        self._last_image: float | None = None

    def set_state(self, state: str, backend: str | None = None) -> None:
        """Record the lifecycle state (and the backend name once loaded)."""
        with self._lock:
            self._snap.state = state
            if backend is not None:
                self._snap.backend = backend

    def image_received(self) -> None:
        """Count one camera frame that reached the node."""
        with self._lock:
            self._snap.images_in += 1
            self._last_image = time.monotonic()

    def time_jump(self, count: int = 1) -> None:
        """Count jumps back in time of the input stamps (bag loop, simulator reset)."""
        with self._lock:
            self._snap.time_jumps += count

    def dropped(self, count: int = 1) -> None:
        """Count frames replaced in the one-slot buffer before inference (stale frames)."""
        with self._lock:
            self._snap.dropped += count

    def unpaired(self, count: int = 1) -> None:
        """Count frames discarded because no LiDAR sweep / camera_info matched within slop."""
        with self._lock:
            self._snap.unpaired += count

    def error(self, kind: str, message: str) -> None:
        """Count one rejected input of ``kind`` (one of ERROR_KINDS) and keep its message."""
        with self._lock:
            self._snap.errors[kind] = self._snap.errors.get(kind, 0) + 1
            self._snap.last_error = f'{kind}: {message}'

    def tf_status(self, status: str) -> None:
        """Record how the last LiDAR->camera transform was obtained (or why it failed)."""
        with self._lock:
            self._snap.tf_status = status

    def frame_done(self, latency_s: float, network_s: float, prompt_coverage: float,
                   lidar_age_s: float | None, supported_fraction: float = float('nan')) -> None:
        """Record one published depth frame (latencies in seconds).

        ``supported_fraction`` is the share of the depth image's pixels with prompt support
        (the others are NaN, see :func:`promptda_ros.pipeline.support_mask`).
        """
        now = time.monotonic()
        with self._lock:
            self._snap.frames_out += 1
            self._out_times.append(now)
            self._latency.append(latency_s * 1e3)
            self._network.append(network_s * 1e3)
            self._snap.prompt_coverage = float(prompt_coverage)
            self._snap.supported_fraction = float(supported_fraction)
            self._snap.lidar_age_ms = float('nan') if lidar_age_s is None else lidar_age_s * 1e3

    def snapshot(self) -> StatsSnapshot:
        """Return a copy of the current statistics with averages computed."""
        now = time.monotonic()
        with self._lock:
            snap = StatsSnapshot(**{**self._snap.__dict__, 'errors': dict(self._snap.errors)})
            if self._last_image is not None:
                snap.image_age_s = now - self._last_image
            times = list(self._out_times)
            if len(times) >= 2:
                period = max(times[-1] - times[0], 1e-9) / (len(times) - 1)
                if now - times[-1] < max(2.0, 3.0 * period):  # else: output stopped, rate 0
                    snap.rate_hz = 1.0 / period
            if self._latency:
                snap.latency_ms = sum(self._latency) / len(self._latency)
                snap.network_ms = sum(self._network) / len(self._network)
        return snap


def _level(snap: StatsSnapshot, previous: StatsSnapshot | None) -> tuple[bytes, str]:
    if snap.state == 'unconfigured' and snap.last_error.startswith('configure: '):
        return DiagnosticStatus.ERROR, f'configure failed: {snap.last_error[11:]}'
    if snap.state != 'active':
        return DiagnosticStatus.WARN, f'node is {snap.state}'
    if previous is not None:
        new_errors = snap.error_total - previous.error_total
        if new_errors > 0:
            return DiagnosticStatus.WARN, f'{new_errors} input(s) rejected: {snap.last_error}'
        if snap.images_in > previous.images_in and snap.frames_out == previous.frames_out:
            return DiagnosticStatus.WARN, 'images received but no depth published'
    if snap.images_in == 0:
        return DiagnosticStatus.WARN, 'waiting for images: none received yet'
    if snap.image_age_s > STALE_AFTER_S:
        return DiagnosticStatus.STALE, (f'no image for {snap.image_age_s:.1f} s '
                                        f'({snap.frames_out} depth frames published so far)')
    if snap.frames_out == 0:
        return DiagnosticStatus.WARN, 'images received but no depth published yet'
    return DiagnosticStatus.OK, f'publishing depth at {snap.rate_hz:.1f} Hz'


def _fmt(value: float, digits: int = 1) -> str:
    return 'nan' if value != value else f'{value:.{digits}f}'


def diagnostic_array(snap: StatsSnapshot, stamp, name: str, hardware_id: str = '',
                     previous: StatsSnapshot | None = None,
                     backend_values: dict[str, str] | None = None) -> DiagnosticArray:
    """Build the ``/diagnostics`` message of one snapshot.

    Args:
        snap: current statistics.
        stamp: ``builtin_interfaces/Time`` of the message header.
        name: status name (the node's fully qualified name).
        hardware_id: free text identifying the camera (e.g. its frame id).
        previous: the snapshot of the previous report; new errors since then give WARN.
        backend_values: what the backend reports about itself (its ``diagnostics()``, e.g. the
            'starrygazer' guard's fallbacks), appended as they are.
    """
    level, message = _level(snap, previous)
    values = {
        'state': snap.state,
        'backend': snap.backend,
        'rate_hz': _fmt(snap.rate_hz, 2),
        'latency_ms': _fmt(snap.latency_ms),
        'network_ms': _fmt(snap.network_ms),
        'prompt_coverage': _fmt(snap.prompt_coverage, 4),
        'supported_fraction': _fmt(snap.supported_fraction, 4),
        'lidar_age_ms': _fmt(snap.lidar_age_ms),
        'tf_status': snap.tf_status,
        'images_in': str(snap.images_in),
        'frames_out': str(snap.frames_out),
        'dropped_frames': str(snap.dropped),
        'unpaired_frames': str(snap.unpaired),
        'errors': str(snap.error_total),
        'last_error': snap.last_error,
        'time_jumps_back': str(snap.time_jumps),
        'image_age_s': _fmt(snap.image_age_s, 2),
    }
    values.update({f'errors.{kind}': str(count) for kind, count in sorted(snap.errors.items())})
    values.update({str(k): str(v) for k, v in (backend_values or {}).items()})
    return status_array(stamp, level, name, message, values, hardware_id)


def status_array(stamp, level: bytes, name: str, message: str, values: Mapping[str, str],
                 hardware_id: str = '') -> DiagnosticArray:
    """Return a ``DiagnosticArray`` with one status.

    Args:
        stamp: ``builtin_interfaces/Time`` of the header.
        level: ``DiagnosticStatus.OK`` / ``WARN`` / ``ERROR`` / ``STALE``.
        name, message, hardware_id: the status' text fields.
        values: key -> value strings, in order.
    """
    status = DiagnosticStatus(level=level, name=name, message=message, hardware_id=hardware_id,
                              values=[KeyValue(key=k, value=v) for k, v in values.items()])
    array = DiagnosticArray(status=[status])
    array.header.stamp = stamp
    return array


def diagnostics_publisher(node: Any) -> Any:
    """Create the node's publisher of ``DiagnosticArray`` on ``/diagnostics`` (depth 10)."""
    return node.create_publisher(DiagnosticArray, '/diagnostics', 10)


class DiagnosticsTimer:
    """Publish a node's :class:`PerceptionStats` on ``/diagnostics`` every ``period_s`` seconds.

    Args:
        node: the node (publisher, timer, clock, name).
        stats: the statistics to report.
        period_s: timer period, seconds.
        wrap: wraps the timer callback (the node's callback guard).
        backend_of: returns the serving backend (or None); a backend with a ``diagnostics()``
            method (key -> value) has its report appended.
    """

    def __init__(self, node: Any, stats: PerceptionStats, period_s: float,
                 wrap: Callable[[Callable[[], None]], Callable[[], None]],
                 backend_of: Callable[[], Any] | None = None) -> None:
        """Create the publisher and the timer (its own mutually exclusive group)."""
        self._node, self._stats = node, stats
        self._backend_of = backend_of
        self._previous: StatsSnapshot | None = None
        self._pub = diagnostics_publisher(node)
        self._timer = node.create_timer(period_s, wrap(self.publish),
                                        callback_group=MutuallyExclusiveCallbackGroup())

    def publish(self) -> None:
        """Publish one report (WARN when errors were counted since the previous one)."""
        snap = self._stats.snapshot()
        name = self._node.get_fully_qualified_name()
        backend = self._backend_of() if self._backend_of else None
        report = getattr(backend, 'diagnostics', None)
        self._pub.publish(diagnostic_array(snap, self._node.get_clock().now().to_msg(),
                                           f'{name}: depth', hardware_id=name,
                                           previous=self._previous,
                                           backend_values=report() if callable(report) else None))
        self._previous = snap


def diagnostic_values(array: DiagnosticArray) -> dict[str, str]:
    """Return the key -> value dict of the first status of a DiagnosticArray (for tools/tests)."""
    if not array.status:
        return {}
    return {kv.key: kv.value for kv in array.status[0].values}
