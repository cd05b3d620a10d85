# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Benchmark the weights-free 'default' backend against 'bilinear' (= promptda-default-bench).

Usage: ``python bench/bench_default_backend.py [--frames N] [--bag DIR] ...``
"""

import sys

from promptda_ros.sample.bench_cli import main

if __name__ == '__main__':
    sys.exit(main())
