# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""package.xml is well formed, format 3, ament_python, and declares what the code imports."""

import ast
import os
import re
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Python module -> rosdep key, for the pip-free dependencies package.xml names.
PYTHON_KEYS = {'numpy': 'python3-numpy', 'cv2': 'python3-opencv', 'scipy': 'python3-scipy',
               'matplotlib': 'python3-matplotlib', 'tqdm': 'python3-tqdm',
               'yaml': 'python3-yaml', 'pytest': 'python3-pytest',
               'hypothesis': 'python3-hypothesis'}
ROS_MODULES = {'rclpy', 'launch', 'launch_ros', 'message_filters', 'tf2_ros', 'cv_bridge',
               'diagnostic_updater', 'ament_index_python'}


def _imports(folders):
    """Return the top-level module names imported anywhere (also inside functions / try)."""
    names = set()
    for folder in folders:
        for base, dirs, files in os.walk(os.path.join(ROOT, folder)):
            dirs[:] = [d for d in dirs if not d.startswith(('.', '__')) and d != 'data']
            for name in files:
                if not name.endswith('.py'):
                    continue
                with open(os.path.join(base, name), encoding='utf-8') as f:
                    tree = ast.parse(f.read())
                for node in ast.walk(tree):
                    if isinstance(node, ast.Import):
                        names.update(alias.name.split('.')[0] for alias in node.names)
                    elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                        names.add(node.module.split('.')[0])
    return names


def _rosdep_key(module):
    """Return the package.xml key of a module, or None when rosdep does not provide it."""
    if module in ROS_MODULES or re.fullmatch(r'[a-z0-9_]+_(msgs|srvs|interfaces)', module):
        return module
    if module.startswith('ament_') and module != 'ament_index_python':
        return module  # ament_copyright, ament_flake8, ... (linters)
    return PYTHON_KEYS.get(module)


def test_package_xml():
    """Parse package.xml and check what colcon and rosdep read from it."""
    tree = ET.parse(os.path.join(ROOT, 'package.xml'))
    pkg = tree.getroot()
    assert pkg.tag == 'package' and pkg.get('format') == '3'
    assert pkg.findtext('name') == 'promptda_ros'
    assert pkg.find('export/build_type').text == 'ament_python'
    execs = {e.text for e in pkg.findall('exec_depend')}
    tests = {e.text for e in pkg.findall('test_depend')}
    assert {'ament_copyright', 'ament_flake8', 'ament_pep257', 'python3-pytest'} <= tests
    assert not execs & tests, 'declared both as exec_depend and test_depend'
    code = _imports(['promptda_ros', 'policy', 'sim', 'launch', 'bench'])
    code_keys = {_rosdep_key(m) for m in code} - {None}
    # What the code imports is declared; what is declared is imported (optional imports count).
    assert code_keys - execs == set(), 'imported but not an exec_depend'
    assert execs - code_keys == set(), 'exec_depend that nothing imports'
    test_keys = {_rosdep_key(m) for m in _imports(['test'])} - {None}
    assert test_keys - code_keys <= tests, 'imported by tests only: make it a test_depend'
    assert {'python3-pytest', 'python3-hypothesis'} <= test_keys
    with open(os.path.join(ROOT, 'setup.py'), encoding='utf-8') as f:
        assert pkg.findtext('version') in f.read(), 'package.xml and setup.py versions differ'
