#!/usr/bin/env python3
# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Type-check gate: mypy (settings in mypy.ini) may find no more errors than BASELINE.

The count may only go down. After fixing type errors, run ``python scripts/mypy_ratchet.py``,
and set BASELINE below to the count it prints, in the same commit as the fixes.
"""

import argparse
import os
import re
import subprocess
import sys

BASELINE = 24
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ERROR = re.compile(r'^[^:\s][^:]*:\d+: error: ')


def run_mypy() -> tuple[int, list[str], str]:
    """Return (return code, the error lines, the full output) of mypy on both packages."""
    proc = subprocess.run([sys.executable, '-m', 'mypy', '--config-file', 'mypy.ini'],
                          cwd=ROOT, capture_output=True, text=True)
    output = proc.stdout + proc.stderr
    return proc.returncode, [line for line in output.splitlines() if ERROR.match(line)], output


def main(argv: list[str] | None = None) -> int:
    """Print the error count against the baseline; return 1 when it grew or mypy crashed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--baseline', type=int, default=BASELINE,
                        help=f'maximum number of errors (default: {BASELINE})')
    args = parser.parse_args(argv)
    code, errors, output = run_mypy()
    if code not in (0, 1) or (code == 1 and not errors):
        print(f'error: mypy failed to run (exit {code}):\n{output}', file=sys.stderr)
        return 1
    if len(errors) > args.baseline:
        print(output, end='')
        print(f'error: mypy found {len(errors)} errors, more than the baseline {args.baseline}; '
              'fix the new ones (listed above)', file=sys.stderr)
        return 1
    note = (f'; lower BASELINE in scripts/mypy_ratchet.py to {len(errors)}'
            if len(errors) < args.baseline else '')
    print(f'mypy: {len(errors)} errors (baseline {args.baseline}){note}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
