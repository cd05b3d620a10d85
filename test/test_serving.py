# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""The callback guard, the typed rejection, the newest-items worker and the allocator tuning."""

import collections
import os
import subprocess
import sys
import threading
import time

import pytest

from promptda_ros.core.errors import InputError, PromptError
from promptda_ros.serving import CallbackGuard, LatestSlot, LatestWorker, Rejected, rejecting


class Logger:
    """Records what a node logger would print."""

    def __init__(self):
        self.lines = []

    def warning(self, text):
        self.lines.append(('warning', text))

    def error(self, text):
        self.lines.append(('error', text))


def test_guard_counts_by_kind_throttles_per_kind_and_returns_the_fallback():
    logger, counts = Logger(), collections.Counter()
    guard = CallbackGuard(logger, lambda kind, _message: counts.update([kind]), throttle_s=60.0)

    def bad_image(_msg):
        raise Rejected('bad_image', 'unsupported encoding')

    def bad_cloud(_msg):
        raise Rejected('bad_cloud', 'no z field')

    def bug(_request, _response):
        raise ZeroDivisionError('a bug')

    for _ in range(3):
        assert guard.wrap('callback', bad_image)('msg') is None
    assert guard.wrap('callback', bad_cloud)('msg') is None  # logged: another kind
    assert guard.wrap('service', bug, lambda req, resp: resp)('req', 'resp') == 'resp'
    assert counts == {'bad_image': 3, 'bad_cloud': 1, 'service': 1}
    assert [level for level, _text in logger.lines] == ['warning', 'warning', 'error']
    assert 'bad_cloud: no z field' in logger.lines[1][1]
    assert 'ZeroDivisionError' in logger.lines[2][1] and 'Traceback' in logger.lines[2][1]
    assert guard.wrap('callback', lambda x: x + 1)(1) == 2


def test_rejecting_types_errors_with_the_innermost_kind_first():
    with pytest.raises(Rejected) as info:
        with rejecting('bad_cloud'), rejecting('prompt_too_sparse', (PromptError,)):
            raise PromptError('too few cells')
    assert info.value.kind == 'prompt_too_sparse' and 'too few' in str(info.value)
    with pytest.raises(Rejected) as info:
        with rejecting('bad_cloud'), rejecting('prompt_too_sparse', (PromptError,)):
            raise InputError('bad layout')
    assert info.value.kind == 'bad_cloud'
    with pytest.raises(KeyError):  # not an input error: a bug, left to the guard
        with rejecting('bad_cloud'):
            raise KeyError('x')


def test_latest_worker_drops_stale_items_and_survives_errors():
    gate = threading.Event()
    results, errors = [], []

    def process(item):
        gate.wait(5.0)
        if item == 'bad':
            raise ValueError('bad item')
        return item * 2

    worker = LatestWorker(process, lambda item, out: results.append((item, out)),
                          lambda item, exc: errors.append((item, exc)))
    worker.start()
    assert worker.put(1) is None
    time.sleep(0.1)  # 1 is running
    assert worker.put(2) is None
    assert worker.put(3) == 2  # 2 replaced before it started
    gate.set()
    deadline = time.monotonic() + 5.0
    while len(results) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    worker.put('bad')
    while not errors and time.monotonic() < deadline:
        time.sleep(0.01)
    worker.put(5)
    while len(results) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert worker.stop() == []
    assert results == [(1, 2), (3, 6), (5, 10)]
    assert worker.dropped == 1 and worker.completed == 3
    assert errors[0][0] == 'bad' and 'bad item' in str(errors[0][1])


def test_worker_ends_quietly_on_an_error_after_shutdown():
    """A failure while ``alive()`` is False (context shut down by SIGINT) ends the worker."""
    alive = threading.Event()
    alive.set()
    errors, started = [], threading.Event()

    def process(item):
        started.set()
        if not alive.is_set():
            raise RuntimeError("Failed to publish: publisher's context is invalid")
        return item

    worker = LatestWorker(process, on_error=lambda item, exc: errors.append(item),
                          alive=alive.is_set)
    worker.start()
    worker.put('before')
    assert started.wait(5.0)
    alive.clear()  # the context goes
    worker.put('after')
    worker._thread.join(5.0)
    assert not worker._thread.is_alive()  # ended by itself, before stop()
    assert errors == []  # nothing reported: shutting down is not an inference error
    assert worker.stop() == []
    raising = LatestWorker(lambda item: 1 / 0, on_error=lambda item, exc: errors.append(item),
                           alive=lambda: True)
    raising.start()
    raising.put('x')
    deadline = time.monotonic() + 5.0
    while not errors and time.monotonic() < deadline:
        time.sleep(0.01)
    raising.stop()
    assert errors == ['x']  # while alive, an error is reported and the worker goes on


def test_latest_slot_keeps_the_newest_items_oldest_first():
    slot = LatestSlot(2)
    assert slot.put(1) is None and slot.put(2) is None
    assert slot.put(3) == 1  # full: the oldest waiting item goes
    assert len(slot) == 2
    assert slot.take(0.1) == 2 and slot.take(0.1) == 3
    assert slot.take(0.01) is None
    slot.put(4)
    assert slot.close() == [4] and slot.take(0.01) is None
    for bad in (0, -1, True, 1.5):
        with pytest.raises(ValueError):
            LatestSlot(bad)


def test_worker_with_capacity_two_serves_a_burst_in_order():
    gate = threading.Event()
    results = []
    worker = LatestWorker(lambda item: gate.wait(5.0) and item,
                          lambda item, out: results.append(out), lambda item, exc: None,
                          capacity=2)
    worker.start()
    worker.put(1)
    time.sleep(0.1)  # 1 is running
    assert worker.put(2) is None and worker.put(3) is None
    assert worker.put(4) == 2
    gate.set()
    deadline = time.monotonic() + 5.0
    while len(results) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    worker.stop()
    assert results == [1, 3, 4] and worker.dropped == 1


_FAULTS = r"""
import resource, sys, threading
import numpy as np
from promptda_ros.serving import tune_allocator
state = tune_allocator() if sys.argv[1] == 'tune' else 'untouched'

def frames():
    for _ in range(100):  # the shape of a box-filter pass of the default backend
        a = np.ones((2, 240, 321))
        b = np.cumsum(a, axis=2)
        del a, b

before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
worker = threading.Thread(target=frames)  # a thread's own arena, as in the node's worker
worker.start()
worker.join()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 100, state)
"""


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='glibc malloc tuning')
def test_tune_allocator_stops_page_faults_per_frame_in_a_worker_thread():
    def faults(mode, **env):
        out = subprocess.run([sys.executable, '-c', _FAULTS, mode], capture_output=True,
                             text=True, timeout=120, env={**os.environ, **env}, check=True)
        per_frame, state = out.stdout.strip().splitlines()[-1].split(maxsplit=1)
        return state, float(per_frame)

    state, untuned = faults('plain')
    assert untuned > 100  # ~600 faults: every 1.2 MiB array refaulted page by page
    state, tuned = faults('tune')
    assert state == 'tuned' and tuned < untuned / 20, (untuned, tuned)
    state, _ = faults('tune', GLIBC_TUNABLES='glibc.malloc.trim_threshold=1000000')
    assert state.startswith('left')  # the user's own tuning wins
