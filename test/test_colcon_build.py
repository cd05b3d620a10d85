# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""The package builds with colcon as it would inside a ROS 2 workspace."""

import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLCON = os.path.join(os.path.dirname(sys.executable), 'colcon')


def _tracked_files():
    out = subprocess.run(['git', 'ls-files', '--cached', '--others', '--exclude-standard'],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [f for f in out.splitlines() if os.path.isfile(os.path.join(ROOT, f))]


def test_colcon_build_installs_ros_layout(tmp_path):
    """`colcon build` puts executables in lib/<pkg>, launch and config in share/<pkg>."""
    src = tmp_path / 'src' / 'promptda_ros'
    for rel in _tracked_files():
        dst = src / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(os.path.join(ROOT, rel), dst)
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ['PATH'])
    proc = subprocess.run([COLCON, 'build', '--event-handlers', 'console_direct-'],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    inst = tmp_path / 'install' / 'promptda_ros'
    for exe in ('promptda-perception', 'promptda-replay', 'promptda-eval', 'promptda-policy'):
        assert (inst / 'lib' / 'promptda_ros' / exe).is_file(), exe
    share = inst / 'share' / 'promptda_ros'
    assert (share / 'package.xml').is_file()
    assert (share / 'launch' / 'perception.launch.py').is_file()
    assert (share / 'config' / 'perception.yaml').is_file()
    assert (tmp_path / 'install' / 'promptda_ros' / 'share' / 'ament_index' / 'resource_index'
            / 'packages' / 'promptda_ros').is_file()
    site = list(inst.glob('lib/python3*/site-packages'))
    assert site and (site[0] / 'promptda_policy').is_dir() and not (site[0] / 'policy').exists()
