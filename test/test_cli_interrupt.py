# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Ctrl-C on the long CLIs: one ``interrupted:`` line, exit 130, and a state that continues.

Each CLI runs as a child process; SIGINT is sent once its work has visibly started (a file it
writes appears), as a terminal would send it.
"""

import os
from pathlib import Path
import signal
import subprocess
import sys
import time

import pytest
import torch

from promptda_ros.model import checkpoint as ck
from promptda_ros.model.config import TINY
from promptda_ros.model.hf_adapter import PromptDANetwork
from promptda_ros.sample.bag_writer import write_sample_bag
from promptda_ros.sample.scene import SampleConfig

DOMAIN_ID = 59
START_TIMEOUT_S = 300   # generous: the machine may be busy; nothing here measures time


def _terminal_sigint() -> None:
    """Let the child take Ctrl-C as a terminal delivers it.

    A shell without job control starts background jobs with SIGINT ignored, and Python then
    never turns it into KeyboardInterrupt; the tests may run as such a job.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _interrupt(module: str, function: str, argv: list, started: Path) -> tuple:
    """Run ``module.function(argv)`` in a child, SIGINT it once ``started`` exists.

    Returns:
        (exit status, stderr lines).
    """
    code = f'import sys; from {module} import {function} as m; sys.exit(m(sys.argv[1:]))'
    proc = subprocess.Popen([sys.executable, '-c', code] + [str(a) for a in argv],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, ROS_DOMAIN_ID=str(DOMAIN_ID)),
                            preexec_fn=_terminal_sigint)
    try:
        end = time.monotonic() + START_TIMEOUT_S
        while not started.exists() and proc.poll() is None and time.monotonic() < end:
            time.sleep(0.1)
        assert proc.poll() is None, 'finished before it could be interrupted'
        assert started.exists(), f'{started} never appeared'
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=START_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, err.strip().splitlines()


def _check_interrupted(rc: int, lines: list) -> None:
    assert rc == 130, (rc, lines[-5:])
    # (lerobot's video decoder may log a library-loading traceback of its own at import on
    # machines without FFmpeg; the interrupt itself must never show one.)
    assert not any('KeyboardInterrupt' in line for line in lines), lines
    assert lines and lines[-1].startswith('interrupted: '), lines[-5:]


@pytest.fixture(scope='module')
def sample(tmp_path_factory):
    """A 7-frame 112 x 84 sample bag and tiny start weights."""
    folder = tmp_path_factory.mktemp('interrupt')
    write_sample_bag(folder / 'bag', SampleConfig(seed=3, frames=7, width=112, height=84),
                     progress=False)
    torch.manual_seed(0)
    init = str(folder / 'tiny.safetensors')
    ck.save_checkpoint(TINY, PromptDANetwork(TINY).hf_state_dict(), init, 'safetensors')
    return folder / 'bag', init


def test_train_interrupted_then_resumed(sample, tmp_path):
    bag, init = sample
    out = tmp_path / 'run'
    rc, lines = _interrupt('promptda_ros.train.cli', 'train_main', [
        '--data', bag, '--init', init, '--out', out, '--steps', '100000', '--save-every', '1',
        '--val-every', '0', '--input-size', '56x70', '--prompt-hw', '24x32', '--quiet'],
        out / 'state.pt')
    _check_interrupted(rc, lines)
    assert '--resume' in lines[-1]
    done = torch.load(out / 'state.pt', weights_only=True)['step']
    from promptda_ros.train.cli import train_main
    assert train_main(['--out', str(out), '--resume', '--steps', str(done + 1), '--quiet']) == 0
    assert torch.load(out / 'state.pt', weights_only=True)['step'] == done + 1


def test_demo_interrupted(tmp_path):
    out = tmp_path / 'demo'
    rc, lines = _interrupt('promptda_ros.demo', 'main', [
        '--out', out, '--frames', '200', '--width', '160', '--height', '120', '--no-progress'],
        out / 'sample_bag')
    _check_interrupted(rc, lines)


def test_sim_record_interrupted_keeps_the_saved_demos(tmp_path):
    from promptda_policy.lerobot_adapter import LeRobotDataset
    root = tmp_path / 'demos'
    rc, lines = _interrupt('promptda_sim.graph', 'record_main', [
        '--root', root, '--depth', 'true', '--episodes', '50', '--real-time-factor', '0'],
        root / 'data')   # written when the first episode is saved
    _check_interrupted(rc, lines)
    ds = LeRobotDataset('local/promptda_demos', root=str(root), depth_output_unit='m')
    assert ds.meta.total_episodes >= 1


def test_adapt_interrupted_then_resumed(tmp_path_factory, tmp_path):
    from promptda_ros.adapt.cli import main as adapt_main

    from test_adapt_helpers import tiny_sample
    bag = tiny_sample(tmp_path_factory)
    out = tmp_path / 'adapt'
    tiny = ['--width', '8', '--net-long-side', '48', '--batch', '2', '--quiet']
    rc, lines = _interrupt('promptda_ros.adapt.cli', 'main', [
        bag, '--out', out, '--steps', '100000', '--save-every', '1'] + tiny, out / 'state.pt')
    _check_interrupted(rc, lines)
    done = torch.load(out / 'state.pt', weights_only=True)['step']
    assert adapt_main([str(bag), '--out', str(out), '--resume', '--steps', str(done + 1)]
                      + tiny) == 0
    assert torch.load(out / 'state.pt', weights_only=True)['step'] == done + 1


def test_sim_eval_interrupted(tmp_path):
    from promptda_policy.synthetic import save_untrained_policy
    from promptda_sim.scene import JOINT_NAMES
    policy = save_untrained_policy(
        str(tmp_path / 'policy'), 60, 80, 5, joint_names=list(JOINT_NAMES), dim_model=32,
        n_heads=2, dim_feedforward=64, n_encoder_layers=1, n_decoder_layers=1, chunk_size=10,
        n_action_steps=10)
    out = tmp_path / 'eval'
    rc, lines = _interrupt('promptda_sim.graph', 'main', [
        policy, '--out', out, '--depth-sources', 'true', '--objects', 'red_can',
        '--positions', 'near', '--episodes', '50', '--timeout-s', '1',
        '--real-time-factor', '0'], out / 'episode_strip.png')   # after the first episode
    _check_interrupted(rc, lines)
    assert not (out / 'success.md').exists()


def test_policy_train_interrupted_keeps_its_last_checkpoint(tmp_path):
    import numpy as np

    from promptda_policy.control.arm_profiles import get_profile
    from promptda_policy.dataset_writer import EpisodeWriter
    names = get_profile('unitree_h1_right_arm').joint_names
    writer = EpisodeWriter(str(tmp_path / 'demos'), 'local/demos', 30, 32, 32, names,
                           image_writer_threads=0)
    rng = np.random.default_rng(0)
    writer.start('reach')
    for _ in range(12):
        writer.add(rng.uniform(0.5, 2.0, (32, 32)), rng.normal(0, 0.1, 4),
                   rng.normal(0, 0.1, 4))
    writer.stop()
    writer.close()
    out = tmp_path / 'run'
    rc, lines = _interrupt('promptda_policy.train', 'main', [
        '--dataset', tmp_path / 'demos', '--output-dir', out, '--steps', '100000',
        '--save-freq', '1', '--batch-size', '2', '--num-workers', '0', '--chunk-size', '5',
        '--dim-model', '32', '--n-heads', '2', '--dim-feedforward', '64',
        '--n-encoder-layers', '1', '--no-imagenet-backbone'],
        out / 'checkpoints' / 'last' / 'pretrained_model' / 'model.safetensors')
    _check_interrupted(rc, lines)
    assert '--init' in lines[-1]
    from promptda_policy.control.arm_fit import policy_signature
    assert policy_signature(str(out / 'checkpoints' / 'last' / 'pretrained_model')
                            ).joint_names == names


_STUCK = """
import sys, time
from promptda_ros.cli_args import run_cli

def body():  # work that never notices Ctrl-C (as a main thread held in native code would not)
    while True:
        try:
            print('ready', flush=True)
            time.sleep(100)
        except KeyboardInterrupt:
            pass

sys.exit(run_cli(body, 'the last checkpoint is kept', **eval(sys.argv[1])))
"""


def _stuck_child(options: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, '-c', _STUCK, options], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=_terminal_sigint)
    assert proc.stdout.readline().strip() == 'ready'
    proc.send_signal(signal.SIGINT)
    return proc


def test_ctrl_c_ends_a_cli_whose_work_cannot_notice_it():
    """With ``stop_within_s`` the process ends anyway, with the one line and status 130."""
    proc = _stuck_child('{"stop_within_s": 1.0}')
    try:
        _, err = proc.communicate(timeout=START_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
    _check_interrupted(proc.returncode, err.strip().splitlines())
    assert 'did not stop within 1 s' in err
    # without it, the same work keeps the process alive: the watch is what ends it
    proc = _stuck_child('{}')
    try:
        time.sleep(3.0)
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()
