# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Layering rules: the core runs without ROS; each third-party ML API is fenced in one adapter."""

import ast
import os
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROS_MODULES = ('rclpy', 'rosidl_runtime_py', 'message_filters', 'tf2_ros', 'cv_bridge',
               'diagnostic_updater', 'launch', 'launch_ros', 'ament_index_python')
# The layers allowed to talk to ROS: the node package and the policy's ROS front ends.
ROS_LAYER = ('promptda_ros/ros/', 'promptda_ros/demo.py', 'policy/promptda_policy/policy_node.py',
             'policy/promptda_policy/recorder.py', 'policy/promptda_policy/ros_', 'launch/')


def _python_files(*folders):
    for folder in folders:
        for base, dirs, names in os.walk(os.path.join(ROOT, folder)):
            dirs[:] = [d for d in dirs if d != '__pycache__']
            for n in names:
                if n.endswith('.py'):
                    yield os.path.relpath(os.path.join(base, n), ROOT).replace(os.sep, '/')


def _imported_roots(path):
    """Return the top-level module names a file imports (absolute imports only)."""
    with open(os.path.join(ROOT, path), encoding='utf-8') as f:
        tree = ast.parse(f.read(), filename=path)
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(a.name.split('.')[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split('.')[0])
    return roots


def _is_ros(mod):
    return mod in ROS_MODULES or mod.endswith(('_msgs', '_srvs', '_interfaces'))


def test_ros_imports_only_in_the_ros_layer():
    """No file outside the ROS layer imports rclpy, message packages or other ROS libraries."""
    offenders = []
    for path in _python_files('promptda_ros', 'policy'):
        if path.startswith(ROS_LAYER):
            continue
        bad = sorted(m for m in _imported_roots(path) if _is_ros(m))
        if bad:
            offenders.append('%s imports %s' % (path, ', '.join(bad)))
    assert not offenders, '\n'.join(offenders)


def test_third_party_ml_apis_are_fenced():
    """Lerobot and transformers are each imported from exactly one adapter module."""
    fences = {'lerobot': 'policy/promptda_policy/lerobot_adapter.py',
              'transformers': 'promptda_ros/model/hf_adapter.py'}
    for lib, adapter in fences.items():
        users = sorted(p for p in _python_files('promptda_ros', 'policy', 'bench')
                       if lib in _imported_roots(p))
        assert users in ([], [adapter]), '%s imported outside %s: %s' % (lib, adapter, users)


def test_core_imports_without_rclpy():
    """Import every non-ROS module with ROS libraries made unimportable."""
    modules = []
    for path in _python_files('promptda_ros'):
        if path.startswith(ROS_LAYER):
            continue
        mod = path[:-3].replace('/', '.')
        modules.append(mod[:-len('.__init__')] if mod.endswith('.__init__') else mod)
    assert 'promptda_ros.core.projection' in modules and 'promptda_ros.pipeline' in modules
    script = textwrap.dedent("""
        import importlib, sys
        BLOCKED = %r
        class Block:
            def find_spec(self, name, path=None, target=None):
                root = name.split('.')[0]
                if root in BLOCKED or root.endswith(('_msgs', '_srvs', '_interfaces')):
                    raise ImportError('blocked for this test: ' + name)
                return None
        sys.meta_path.insert(0, Block())
        for m in %r:
            importlib.import_module(m)
        leaked = sorted(m for m in sys.modules if m.split('.')[0] in BLOCKED)
        assert not leaked, leaked
        print('imported', len(%r))
    """) % (ROS_MODULES, modules, modules)
    proc = subprocess.run([sys.executable, '-c', script], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_perception_code_parses_as_python_3_10():
    """ROS 2 Humble and Jetson images run Python 3.10: no newer syntax outside the policy."""
    bad = []
    for path in _python_files('promptda_ros', 'launch'):
        with open(os.path.join(ROOT, path), encoding='utf-8') as f:
            source = f.read()
        try:
            ast.parse(source, filename=path, feature_version=(3, 10))
        except SyntaxError as exc:
            bad.append('%s:%s: %s' % (path, exc.lineno, exc.msg))
    assert not bad, '\n'.join(bad)
