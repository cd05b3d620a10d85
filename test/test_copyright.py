# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Licence gate: every source file carries the project's copyright and SPDX licence lines."""

import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEADER = ('# Copyright 2026 The promptda_ros Authors', '# SPDX-License-Identifier: Apache-2.0')
SOURCE_ENDINGS = ('.py', '.sh')


def _tracked_sources():
    """Return the repository's source files (git's view when available, else a walk)."""
    try:
        out = subprocess.run(['git', 'ls-files', '--cached', '--others', '--exclude-standard'],
                             cwd=ROOT, capture_output=True, text=True, check=True).stdout
        files = [f for f in out.splitlines() if f.endswith(SOURCE_ENDINGS)]
    except (OSError, subprocess.CalledProcessError):
        files = []
        for base, dirs, names in os.walk(ROOT):
            dirs[:] = [d for d in dirs if not d.startswith('.') and d not in ('build', 'install')]
            files += [os.path.relpath(os.path.join(base, n), ROOT)
                      for n in names if n.endswith(SOURCE_ENDINGS)]
    return sorted(f for f in files if os.path.isfile(os.path.join(ROOT, f)))


def _has_header(path):
    """Return True when the first lines (after a shebang) are the copyright header."""
    with open(path, encoding='utf-8') as f:
        lines = [ln.rstrip('\n') for ln in f.readlines()[:4]]
    if lines and lines[0].startswith('#!'):
        lines = lines[1:]
    return tuple(lines[:2]) == HEADER


@pytest.mark.copyright
@pytest.mark.linter
def test_copyright():
    """Check every file; ament_copyright adds its own checks where a ROS install has it."""
    files = _tracked_sources()
    assert len(files) > 10, 'the source walk found almost nothing: %r' % files
    missing = [f for f in files if not _has_header(os.path.join(ROOT, f))]
    assert not missing, 'files without the copyright header:\n' + '\n'.join(missing)
    try:
        from ament_copyright.main import main
    except ImportError:
        return
    assert main(argv=['--exclude', 'test/data', '.venv', '--', ROOT]) == 0
