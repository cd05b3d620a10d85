# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Lint gates: `make lint` runs ruff (ruff.toml) and the mypy ratchet (scripts/mypy_ratchet.py)."""

from pathlib import Path
import shutil
import subprocess
import sys

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEADER = '# Copyright 2026 The promptda_ros Authors\n# SPDX-License-Identifier: Apache-2.0\n\n'
BAD = HEADER + '"""A module with two lint errors."""\n\nimport os\n\nNAME = "double quotes"\n'
GOOD = HEADER + '"""A clean module."""\n\nNAME = \'single quotes\'\n'


def _ruff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-m', 'ruff', 'check', '--no-cache', '--config',
                           str(ROOT / 'ruff.toml'), *args], cwd=ROOT, capture_output=True,
                          text=True)


@pytest.mark.linter
def test_ruff_passes_on_the_tree():
    proc = _ruff('.')
    assert proc.returncode == 0, 'ruff found problems (make lint):\n' + proc.stdout + proc.stderr


@pytest.mark.linter
def test_make_lint_fails_on_a_lint_error(tmp_path):
    assert shutil.which('make'), 'make is needed for the lint target'
    bad = tmp_path / 'bad.py'
    bad.write_text(BAD, encoding='utf-8')
    proc = subprocess.run(['make', '-s', 'lint', f'LINT_PATHS={bad}',
                           f'BIN={Path(sys.executable).parent}'],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output
    assert 'F401' in output and 'Q000' in output, output  # unused import, double quotes
    good = tmp_path / 'good.py'
    good.write_text(GOOD, encoding='utf-8')
    proc = _ruff(str(good))
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.linter
def test_mypy_error_count_only_goes_down():
    script = [sys.executable, str(ROOT / 'scripts' / 'mypy_ratchet.py')]
    proc = subprocess.run(script, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-20000:] + proc.stderr
    assert proc.stdout.startswith('mypy: ') and 'baseline' in proc.stdout
    count = int(proc.stdout.split()[1])
    # The gate fails once the count exceeds the baseline (mypy's cache makes the rerun fast).
    proc = subprocess.run(script + ['--baseline', str(count - 1)], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 1 and 'more than the baseline' in proc.stderr, proc.stderr
