# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""package.xml is well formed, format 3, ament_python, and names every runtime dependency."""

import os
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_package_xml():
    """Parse package.xml and check what colcon and rosdep read from it."""
    tree = ET.parse(os.path.join(ROOT, 'package.xml'))
    pkg = tree.getroot()
    assert pkg.tag == 'package' and pkg.get('format') == '3'
    assert pkg.findtext('name') == 'promptda_ros'
    assert pkg.find('export/build_type').text == 'ament_python'
    execs = {e.text for e in pkg.findall('exec_depend')}
    for dep in ('rclpy', 'sensor_msgs', 'std_msgs', 'geometry_msgs', 'message_filters',
                'cv_bridge', 'tf2_ros', 'diagnostic_updater', 'python3-numpy', 'python3-opencv'):
        assert dep in execs, dep
    tests = {e.text for e in pkg.findall('test_depend')}
    assert {'ament_copyright', 'ament_flake8', 'ament_pep257', 'python3-pytest'} <= tests
    with open(os.path.join(ROOT, 'setup.py'), encoding='utf-8') as f:
        assert pkg.findtext('version') in f.read(), 'package.xml and setup.py versions differ'
