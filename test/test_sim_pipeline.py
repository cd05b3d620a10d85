# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""``promptda-sim-pipeline`` at a tiny size: record -> train -> eval, then resumed and skipped."""

import json
import os
import subprocess
import sys

DOMAIN_ID = 219
TINY = ['--episodes', '2', '--val-episodes', '1', '--objects', 'red_can', '--positions', 'near',
        '--batch-size', '4', '--save-freq', '1', '--val-frames', '8', '--eval-episodes', '1',
        '--timeout-s', '0.5', '--depth-sources', 'true',
        '--train-args', '--dim-model 32 --n-heads 2 --dim-feedforward 64 --n-encoder-layers 1 '
                        '--chunk-size 10 --num-workers 0']


def _pipeline(root, *extra, timeout=600):
    env = dict(os.environ, ROS_DOMAIN_ID=str(DOMAIN_ID), OMP_NUM_THREADS='1')
    out = subprocess.run([sys.executable, '-m', 'promptda_sim.pipeline', '--root',
                          str(root)] + TINY + list(extra), capture_output=True, text=True,
                         timeout=timeout, env=env)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout, out.stderr


def test_pipeline_records_trains_evaluates_and_resumes(tmp_path):
    root = tmp_path / 'grasp'
    stdout, stderr = _pipeline(root, '--steps', '2')
    demos = json.loads((root / 'demos' / 'pipeline.json').read_text())
    assert [e['seed'] for e in demos['episodes']] == [100, 101]
    assert demos['train_episodes'] == [0] and demos['val_episodes'] == [1]
    assert 'held-out action L1' in stderr                       # printed as training goes
    assert 'record: 100%' in stderr and 'eval: 100%' in stderr  # progress bars
    result = json.loads((root / 'eval' / 'success.json').read_text())
    assert result['train_steps'] == 2 and result['episodes_per_cell'] == 1
    assert list(result['results']) == ['true']
    assert (root / 'train' / 'checkpoints' / 'last' / 'pretrained_model').is_dir()

    stdout, _ = _pipeline(root, '--steps', '2')                  # everything is there
    assert '[record] done' in stdout and '[train] done' in stdout and '[eval] done' in stdout

    # An interrupted training (no marker) continues from its newest checkpoint; the eval of
    # the shorter training is kept aside and run again.
    os.remove(root / 'train.json')
    stdout, _ = _pipeline(root, '--steps', '3')
    assert 'continuing from step 2' in stdout, stdout
    assert (root / 'train.part0' / 'checkpoints' / 'last' / 'pretrained_model').is_dir()
    assert json.loads((root / 'train.json').read_text())['done_steps'] == 3
    assert json.loads((root / 'eval' / 'success.json').read_text())['train_steps'] == 3
    assert (root / 'eval.step2' / 'success.md').is_file()
