# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Docstring gate: pep257 conventions with ament_pep257's default ignore list."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGETS = ['promptda_ros', 'policy', 'sim', 'test', 'launch', 'bench']
# ament_pep257's defaults: module / class / function docstrings are not forced on test helpers.
IGNORE = 'D100,D101,D102,D103,D104,D105,D106,D107,D203,D212,D404'


@pytest.mark.linter
@pytest.mark.pep257
def test_pep257():
    """Run ament_pep257 where a ROS install provides it, else pydocstyle with its settings."""
    try:
        from ament_pep257.main import main
    except ImportError:
        main = None
    if main is not None:
        rc = main(argv=[os.path.join(ROOT, t) for t in TARGETS])
        assert rc == 0, 'Found code style errors / warnings'
        return
    proc = subprocess.run(
        [sys.executable, '-m', 'pydocstyle', '--convention=pep257', '--add-ignore=' + IGNORE,
         '--match-dir=^(?!(\\.|__pycache__|data)).*'] + TARGETS,
        cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, 'pydocstyle found problems:\n' + proc.stdout + proc.stderr
