# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Style gate: flake8 at 99 columns over every Python file of the package (ament's settings)."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGETS = ['promptda_ros', 'policy', 'sim', 'test', 'launch', 'bench', 'setup.py']


@pytest.mark.flake8
@pytest.mark.linter
def test_flake8():
    """Run ament_flake8 where a ROS install provides it, else flake8 with the same limits."""
    try:
        from ament_flake8.main import main_with_errors
    except ImportError:
        main_with_errors = None
    if main_with_errors is not None:
        rc, errors = main_with_errors(argv=[os.path.join(ROOT, t) for t in TARGETS])
        assert rc == 0, 'Found %d code style errors / warnings:\n' % len(errors) + \
            '\n'.join(errors)
        return
    proc = subprocess.run(
        [sys.executable, '-m', 'flake8', '--max-line-length=99',
         '--exclude=.venv,build,install,log,out,__pycache__'] + TARGETS,
        cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, 'flake8 found problems:\n' + proc.stdout + proc.stderr
