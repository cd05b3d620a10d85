# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Bundled sample: a procedural indoor scene seen by a camera and a LiDAR, written as a ROS 2 bag.

* :mod:`promptda_ros.sample.scene` - deterministic scene, camera and LiDAR ray casting.
* :mod:`promptda_ros.sample.bag_writer` - :func:`write_sample_bag` (rosbags, sqlite3 or mcap).
* :mod:`promptda_ros.sample.cli` - ``promptda-make-sample``.
* :mod:`promptda_ros.sample.bench_cli` - ``promptda-default-bench`` (default vs bilinear).
"""
