# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""The 30-second form of the soak (bench/soak.py): 640x480 at 30 Hz into a node process."""

from pathlib import Path
import re
import subprocess
import sys

ROOT = Path(__file__).resolve().parents[1]


def test_node_survives_30_s_at_30_hz_and_memory_stays_flat():
    proc = subprocess.run([sys.executable, str(ROOT / 'bench' / 'soak.py'), '--seconds', '30',
                           '--domain', '94'], capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    table = proc.stdout
    assert '| node still running | yes |' in table, table
    frames_in = int(re.search(r'\| frames in \| (\d+) ', table).group(1))
    frames_out = int(re.search(r'\| frames out \| (\d+) ', table).group(1))
    assert frames_in >= 600 and 0 < frames_out <= frames_in, table
    growth = float(re.search(r'MiB \| \d+ / \d+ \(([-+0-9.]+) %\)', table).group(1))
    assert growth < 20.0, table  # a leak of one frame per input would be hundreds of %
