# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""The core must import and run with ROS absent."""

import os
import subprocess
import sys

SCRIPT = r"""
import importlib.abc
import sys

class BlockRos(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.split('.')[0]
        if top in ('rclpy', 'rosidl_runtime_py', 'message_filters', 'cv_bridge', 'tf2_ros') \
                or top.endswith('_msgs') or top.endswith('_interfaces'):
            raise ImportError(f'blocked ROS import: {name}')
        return None

sys.meta_path.insert(0, BlockRos())
import numpy as np
from promptda_ros.core import (camera, depth_io, errors, msg_codec, pointcloud, projection,
                               prompt, sync, transforms)
cam = camera.PinholeCamera.from_intrinsics(50.0, 50.0, 20.0, 15.0, 40, 30)
pts = np.random.default_rng(0).uniform([-0.5, -0.5, 1.0], [0.5, 0.5, 3.0], (2000, 3))
filled, sparse, stats = prompt.build_prompt(pts, cam, (15, 20))
assert filled.shape == (15, 20) and stats.n_valid > 16
loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'rclpy' or m.endswith('_msgs'))
assert not loaded, loaded
print('ok')
"""


def test_core_imports_and_runs_without_ros():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ)
    env['PYTHONPATH'] = root + os.pathsep + env.get('PYTHONPATH', '')
    proc = subprocess.run([sys.executable, '-c', SCRIPT], capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == 'ok'


def test_the_installed_package_is_this_checkout():
    """Console scripts run in their own process: they must import this checkout's code.

    A venv from PROMPTDA_VENV_CACHE is shared by every clone with the same requirements, and
    the last clone set up owns its editable install; `make test` sets it up for this clone
    first. Tested in a fresh process from another directory, as a console script runs.
    """
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = ('import os, promptda_ros, promptda_policy; print(os.path.realpath('
            'promptda_ros.__file__)); print(os.path.realpath(promptda_policy.__file__))')
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                          timeout=120, env=env, cwd=os.path.dirname(root), check=True)
    ros_path, policy_path = proc.stdout.split()
    real_root = os.path.realpath(root)
    assert ros_path.startswith(os.path.join(real_root, 'promptda_ros')), \
        f'promptda_ros imports from {ros_path}, not this checkout: run make setup here'
    assert policy_path.startswith(os.path.join(real_root, 'policy', 'promptda_policy')), \
        f'promptda_policy imports from {policy_path}, not this checkout: run make setup here'
