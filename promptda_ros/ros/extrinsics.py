# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Extrinsics policy of the perception node: where camera <- LiDAR comes from, per sweep.

Three sources, chosen by ``extrinsics_source`` and what is installed:

* **same frame** -- the sweep is already in the camera frame: no transform;
* **tf2** -- ``tf2_ros`` is installed and ``extrinsics_source`` is not 'static': a lookup at the
  sweep stamp (``tf_timeout_s``);
* **static parameters** -- ``lidar_to_camera_*``, when ``extrinsics_source`` is 'static' or they
  were set; otherwise a sweep in another frame is refused ('extrinsics'): geometry is never
  guessed.

:class:`Extrinsics` holds the decision (tested without a graph); :func:`tf2_lookup` binds it to
a ``tf2_ros.Buffer``; :func:`node_extrinsics` sets up both for a node (buffer and listener).
"""

from typing import Any, Callable, Optional

import numpy as np
from rclpy.clock import ClockType
from rclpy.duration import Duration
from rclpy.time import Time

from promptda_ros.core.errors import CalibrationError, PromptDAError
from promptda_ros.core.sync import seconds_to_ns
from promptda_ros.core.transforms import make_transform
from promptda_ros.ros.params import PerceptionParams
from promptda_ros.serving import Rejected

__all__ = ['Extrinsics', 'node_extrinsics', 'tf2_lookup']

#: ``lookup(target_frame, source_frame, stamp_ns, timeout_s)`` ->
#: ``(translation (3,) m, quaternion xyzw)`` of target <- source at the stamp (integer ns).
Lookup = Callable[[str, str, int, float], tuple]


def tf2_lookup(buffer: Any, tf2: Any) -> Lookup:
    """Return a :data:`Lookup` through ``buffer.lookup_transform`` at the sweep stamp.

    Args:
        buffer: a ``tf2_ros.Buffer`` (filled by a ``TransformListener``).
        tf2: the ``tf2_ros`` module (its ``TransformException`` is caught).

    Raises (from the returned function):
        CalibrationError: the lookup failed (the message says why).
    """
    def lookup(target: str, source: str, stamp_ns: int, timeout_s: float) -> tuple:
        when = Time(nanoseconds=max(int(stamp_ns), 0), clock_type=ClockType.ROS_TIME)
        timeout = Duration(nanoseconds=seconds_to_ns(timeout_s))
        try:
            tf = buffer.lookup_transform(target, source, when, timeout=timeout)
        except tf2.TransformException as error:
            raise CalibrationError(str(error)) from None
        t, q = tf.transform.translation, tf.transform.rotation
        return (t.x, t.y, t.z), (q.x, q.y, q.z, q.w)

    return lookup


def node_extrinsics(node: Any, tf2: Any, report: Callable[[str], None]) -> 'Extrinsics':
    """Return the :class:`Extrinsics` of a perception node (``node.params``, read per call).

    With ``tf2`` (the ``tf2_ros`` module, None when not installed) and ``extrinsics_source``
    other than 'static', a ``Buffer`` filled by a ``TransformListener`` on ``node`` answers.

    Raises:
        PromptDAError: ``extrinsics_source`` is 'tf' without tf2.
    """
    use_tf = node.params.extrinsics_source != 'static' and tf2 is not None
    buffer = tf2.Buffer() if use_tf else None
    extrinsics = Extrinsics(lambda: node.params, tf2_lookup(buffer, tf2) if use_tf else None,
                            report)
    if use_tf:
        extrinsics.listener = tf2.TransformListener(buffer, node)
    return extrinsics


class Extrinsics:
    """Camera <- LiDAR per sweep, with a status line for ``/diagnostics``.

    Args:
        params: returns the node's current parameters (``extrinsics_source``,
            ``lidar_to_camera_*`` and ``tf_timeout_s``, the last three changeable at run time).
        lookup: a :data:`Lookup` (tf2), or None when tf2 is not used.
        report: ``report(status)`` receives a one-line status per call (diagnostics' TF status).

    Raises:
        PromptDAError: ``extrinsics_source`` is 'tf' but there is no lookup.
    """

    def __init__(self, params: Callable[[], PerceptionParams], lookup: Optional[Lookup],
                 report: Callable[[str], None]) -> None:
        """Keep the policy inputs (see the class docstring)."""
        if params().extrinsics_source == 'tf' and lookup is None:
            raise PromptDAError("extrinsics_source 'tf' needs tf2_ros, which is not installed; "
                                "use 'static' or 'auto'")
        self._params = params
        self._lookup = lookup
        self._report = report
        self.listener: Any = None  # what fills the lookup's buffer (see close)

    def close(self) -> None:
        """Stop the tf2 listener, if any (its /tf and /tf_static subscriptions go)."""
        listener, self.listener = self.listener, None
        if listener is not None and hasattr(listener, 'unregister'):
            listener.unregister()

    @property
    def mode(self) -> str:
        """Return the source in words (logged at configure)."""
        if self._lookup is not None:
            return 'tf2'
        if self._params().extrinsics_source == 'static':
            return 'static parameters'
        return 'static parameters if set, else none (frames must match)'

    def _static_set(self) -> bool:
        params, default = self._params(), PerceptionParams()
        return params.extrinsics_source == 'static' or \
            params.lidar_to_camera_translation != default.lidar_to_camera_translation or \
            params.lidar_to_camera_rotation_xyzw != default.lidar_to_camera_rotation_xyzw

    def transform(self, cloud_frame: str, camera_frame: str, stamp_ns: int
                  ) -> Optional[np.ndarray]:
        """Return T_cam_lidar (4, 4) float64 at the sweep stamp, or None for the same frame.

        Raises:
            Rejected: 'tf' when the tf2 lookup fails, 'extrinsics' when the frames differ and
                neither tf2 nor explicitly set static extrinsics give the transform.
        """
        if cloud_frame == camera_frame:
            self._report('same frame')
            return None
        if self._lookup is not None:
            try:
                translation, quat = self._lookup(camera_frame, cloud_frame, stamp_ns,
                                                 self._params().tf_timeout_s)
            except CalibrationError as error:
                self._report(f'lookup failed: {error}')
                raise Rejected('tf', CalibrationError(
                    f'no transform {cloud_frame} -> {camera_frame}: {error}')) from None
            self._report(f'tf2 {cloud_frame} -> {camera_frame}')
            return make_transform(list(translation), list(quat))
        if not self._static_set():
            self._report(f'no extrinsics {cloud_frame} -> {camera_frame}')
            raise Rejected('extrinsics', f'LiDAR frame {cloud_frame!r} differs from the camera '
                           f'frame {camera_frame!r} and no transform is known: tf2_ros is not '
                           'installed and lidar_to_camera_* are not set (set them, or '
                           "extrinsics_source: 'static' for an identity)")
        self._report(f'static {cloud_frame} -> {camera_frame}')
        params = self._params()
        return make_transform(params.lidar_to_camera_translation,
                              params.lidar_to_camera_rotation_xyzw)
