# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""promptda-train and promptda-simulate-lidar end to end on a small sample and a tiny network."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from promptda_ros.model import checkpoint as ck
from promptda_ros.model.config import TINY
from promptda_ros.model.hf_adapter import PromptDANetwork
from promptda_ros.sample.bag_writer import write_sample_bag
from promptda_ros.sample.scene import SampleConfig
from promptda_ros.train.cli import simulate_lidar_main, train_main
from promptda_ros.train.data import cache_dir, TrainFrames
from promptda_ros.train.data import SampleConfig as DataSampleConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# 56 x 70 network input (4 x 5 patches), 24 x 32 prompt grid: a few ms per step.
FAST = ['--input-size', '56x70', '--prompt-hw', '24x32', '--batch-size', '2', '--quiet',
        '--log-every', '1', '--beams', '16', '--vfov=-20,20']


def _write_frame_folder(bag, root):
    """Write a bag's frames as a frame folder (the evaluation's folder layout)."""
    import cv2

    from promptda_ros.eval.dataset import read_bag
    os.makedirs(root)
    for sub in ('rgb', 'gt', 'prompt'):
        os.makedirs(os.path.join(root, sub))
    for i, fr in enumerate(read_bag(bag, prompt_hw=(24, 32))):
        stem = '%06d' % i
        cv2.imwrite(os.path.join(root, 'rgb', stem + '.png'), fr.rgb[..., ::-1])
        np.save(os.path.join(root, 'gt', stem + '.npy'), fr.gt_m)
        np.save(os.path.join(root, 'prompt', stem + '.npy'), fr.prompt_m)
        cam = fr.camera
    with open(os.path.join(root, 'intrinsics.json'), 'w', encoding='utf-8') as f:
        json.dump({'fx': cam.fx, 'fy': cam.fy, 'cx': cam.cx, 'cy': cam.cy, 'width': cam.width,
                   'height': cam.height}, f)


@pytest.fixture(scope='module')
def sample(tmp_path_factory):
    """A 7-frame 112 x 84 sample bag, the same frames as a folder, and tiny start weights.

    7 frames = 6 training + 1 validation (the default 20 % held out).
    """
    folder = tmp_path_factory.mktemp('train_cli')
    bag = folder / 'bag'
    write_sample_bag(bag, SampleConfig(seed=3, frames=7, width=112, height=84), progress=False)
    frames = str(folder / 'frames')
    _write_frame_folder(str(bag), frames)
    torch.manual_seed(0)
    init = str(folder / 'tiny.safetensors')
    ck.save_checkpoint(TINY, PromptDANetwork(TINY).hf_state_dict(), init, 'safetensors')
    return str(bag), init, folder, frames


def _weights(path):
    return ck.read_checkpoint(path).hf_state_dict


def _records(run, split):
    with open(os.path.join(run, 'metrics.jsonl'), encoding='utf-8') as f:
        return [r for r in map(json.loads, f) if r['split'] == split]


def test_train_writes_checkpoints_that_the_node_and_eval_load(sample, capsys):
    bag, init, folder, _ = sample
    run = str(folder / 'run')
    rc = train_main(['--data', bag, '--init', init, '--out', run, '--steps', '4',
                     '--val-every', '2', '--pattern', 'mix', '--lr-decoder', '1e-3',
                     '--loss', 'edge'] + FAST)
    assert rc == 0, capsys.readouterr().err
    for name in ('last.safetensors', 'best.safetensors', 'state.pt', 'run.json', 'curves.png'):
        assert os.path.isfile(os.path.join(run, name)), name
    train = _records(run, 'train')
    assert [r['step'] for r in train] == [1, 2, 3, 4]
    assert all(np.isfinite(r['loss']) and r['lr'][1] > r['lr'][0] for r in train)
    val = _records(run, 'val')
    assert [r['step'] for r in val] == [2, 4] and all(r['l1'] > 0 for r in val)
    start, last = _weights(init), _weights(os.path.join(run, 'last.safetensors'))
    assert any(not torch.equal(start[k], last[k]) for k in start)
    # A sample with the bag's real LiDAR prompt, cropped with the image.
    frames = TrainFrames(cache_dir(run, 'train'),
                         DataSampleConfig(input_hw=(56, 70), prompt_hw=(24, 32), pattern='lidar'))
    item = frames[len(frames) + 1]          # epoch 1, frame 1
    assert item['pixel'].shape == (3, 56, 70) and item['prompt'].shape == (1, 24, 32)
    gt = item['gt'][item['mask']]
    assert item['prompt'].min() > 0.5 * gt.min() and item['prompt'].max() < 1.5 * gt.max()
    # The node's backend loads it as it is.
    from promptda_ros.backends import make_backend
    backend = make_backend('promptda', checkpoint=os.path.join(run, 'last.safetensors'),
                           input_size=(56, 70), warmup=0)
    prompt = np.linspace(1.0, 3.0, 24 * 32, dtype=np.float32).reshape(24, 32)
    depth = backend.predict(np.zeros((84, 112, 3), np.uint8), prompt)
    assert depth.shape == (84, 112) and np.all(np.isfinite(depth))
    # The perception node (real rclpy graph, through promptda-replay) serves depth with it.
    from promptda_ros.ros.replay import main as replay_main
    rc = replay_main([bag, '--out', str(folder / 'replayed'), '--set', 'backend=promptda',
                      '--set', 'checkpoint=' + os.path.join(run, 'last.safetensors'),
                      '--set', 'input_size=[56, 70]', '--no-progress'])
    out_text = capsys.readouterr().out
    assert rc == 0 and 'depth out 7' in out_text and 'errors 0' in out_text, out_text
    # And promptda-eval scores it.
    from promptda_ros.eval.cli import main as eval_main
    out = str(folder / 'eval')
    rc = eval_main([bag, '--out', out, '--methods', 'promptda', '--checkpoint',
                    os.path.join(run, 'best.safetensors'), '--input-size', '56x70',
                    '--max-frames', '2', '--no-recon', '--no-plots'])
    assert rc == 0, capsys.readouterr().err
    with open(os.path.join(out, 'report.json'), encoding='utf-8') as f:
        assert 'promptda' in json.dumps(json.load(f))


def test_resume_continues_exactly(sample, capsys):
    _, init, folder, frames = sample
    common = ['--data', frames, '--init', init, '--val-fraction', '0', '--schedule', 'constant',
              '--warmup', '1', '--pattern', 'beams'] + FAST
    straight, split = str(folder / 'straight'), str(folder / 'split')
    assert train_main(common + ['--out', straight, '--steps', '4']) == 0
    assert train_main(common + ['--out', split, '--steps', '2']) == 0
    assert train_main(['--out', split, '--resume', '--steps', '4', '--quiet']) == 0
    a = _weights(os.path.join(straight, 'last.safetensors'))
    b = _weights(os.path.join(split, 'last.safetensors'))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [r['step'] for r in _records(split, 'train')] == [1, 2, 3, 4]
    capsys.readouterr()


def _copy_without(src, dst, drop):
    """Copy a bag without the ``drop`` topics (rosbags reader -> writer)."""
    from rosbags.rosbag2 import Reader, Writer
    from rosbags.typesys import get_typestore, Stores
    store = get_typestore(Stores.ROS2_JAZZY)
    with Reader(src) as reader, Writer(dst, version=8) as writer:
        conns = {c.id: writer.add_connection(c.topic, c.msgtype, typestore=store,
                                             offered_qos_profiles=c.ext.offered_qos_profiles)
                 for c in reader.connections if c.topic not in drop}
        for conn, stamp, raw in reader.messages():
            if conn.id in conns:
                writer.write(conns[conn.id], stamp, raw)


def _one_line_error(capsys, rc, needle):
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1
    assert err and err[-1].startswith('error: ') and needle in err[-1], err
    assert not any('Traceback' in line for line in err)


def test_bad_input_gives_one_line_errors(sample, tmp_path, capsys):
    bag, init, _, frames = sample
    no_gt = str(tmp_path / 'no_gt')
    _copy_without(bag, no_gt, {'/camera/depth_gt'})
    base = ['--init', init, '--steps', '1'] + FAST
    rc = train_main(['--data', no_gt, '--out', str(tmp_path / 'a')] + base)
    _one_line_error(capsys, rc, "no reference depth topic '/camera/depth_gt'")
    rc = train_main(['--data', frames, '--out', str(tmp_path / 'b'), '--encoder', 'vits'] + base)
    _one_line_error(capsys, rc, 'holds a tiny network')
    official = str(tmp_path / 'model.ckpt')
    torch.save({'state_dict': {'pipeline.pretrained.cls_token': torch.zeros(1, 1, 40)}},
               official)
    rc = train_main(['--data', frames, '--out', str(tmp_path / 'c'), '--init', official,
                     '--steps', '1'] + FAST[2:])
    _one_line_error(capsys, rc, 'embedding width 40')
    rc = train_main(['--data', frames, '--out', str(tmp_path / 'd')] + base
                    + ['--input-size', '100x150'])
    _one_line_error(capsys, rc, 'multiples of 14')
    if not torch.cuda.is_available():
        rc = train_main(['--data', frames, '--out', str(tmp_path / 'e'), '--device', 'cuda']
                        + base)
        _one_line_error(capsys, rc, 'CUDA is not available')
        rc = train_main(['--data', frames, '--out', str(tmp_path / 'e'), '--precision', 'bf16']
                        + base)
        _one_line_error(capsys, rc, 'needs a CUDA device')
    rc = train_main(['--out', str(tmp_path / 'missing'), '--resume'])
    _one_line_error(capsys, rc, 'does not exist')
    foreign = tmp_path / 'foreign'
    foreign.mkdir()
    (foreign / 'notes.txt').write_text('not a run')
    rc = train_main(['--out', str(foreign), '--resume'])
    _one_line_error(capsys, rc, 'is not a training run folder')
    (foreign / 'run.json').write_text(json.dumps({'kind': 'promptda-adapt',
                                                  'format_version': 1}))
    rc = train_main(['--out', str(foreign), '--resume'])
    _one_line_error(capsys, rc, "holds a 'promptda-adapt' run")
    rc = train_main(['--data', frames, '--out', str(foreign)] + base)
    _one_line_error(capsys, rc, 'not empty')
    assert not os.path.exists(tmp_path / 'a' / 'last.safetensors')


def test_simulate_lidar_writes_the_comparison(sample, tmp_path, capsys):
    bag = sample[0]
    png = str(tmp_path / 'sim.png')
    assert simulate_lidar_main([bag, '--out', png, '--prompt-hw', '48x64', '--frame', '1']) == 0
    out = capsys.readouterr().out
    assert 'naive' in out and 'anchors' in out and 'beams' in out
    with open(png, 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    rc = simulate_lidar_main([bag, '--out', str(tmp_path / 'sim.jpg')])
    _one_line_error(capsys, rc, '.png')
    rc = simulate_lidar_main([bag, '--out', png, '--frame', '99'])
    _one_line_error(capsys, rc, 'no frame 99')


def test_torchrun_two_processes_match_one_process(sample, capsys):
    """DDP on CPU (gloo): 2 x batch 1 gives the weights of 1 x batch 2, on both replicas."""
    _, init, folder, frames = sample
    torchrun = shutil.which('torchrun', path=os.path.dirname(sys.executable))
    assert torchrun, 'torchrun is installed with torch'
    common = ['--data', frames, '--init', init, '--steps', '3', '--val-every', '0',
              '--pattern', 'anchors', '--lr-decoder', '1e-3', '--lr-vit', '1e-4'] + FAST
    common[common.index('--batch-size') + 1] = '1'
    ddp = str(folder / 'ddp')
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=ROOT)
    proc = subprocess.run([torchrun, '--standalone', '--nproc_per_node', '2',
                           '-m', 'promptda_ros.train.cli', '--out', ddp] + common,
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    single = str(folder / 'single')
    args = list(common)
    args[args.index('--batch-size') + 1] = '2'
    assert train_main(args + ['--out', single]) == 0
    replicas = _records(ddp, 'replicas')
    assert replicas == [{'max_abs_diff': 0.0, 'split': 'replicas', 'step': 3, 'world_size': 2}]
    a = _weights(os.path.join(ddp, 'last.safetensors'))
    b = _weights(os.path.join(single, 'last.safetensors'))
    start = _weights(init)
    moved = max(float((b[k] - start[k]).abs().max()) for k in b)
    worst = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert moved > 1e-4 and worst < 1e-5, (moved, worst)
    ddp_loss = [r['loss'] for r in _records(ddp, 'train')]
    one_loss = [r['loss'] for r in _records(single, 'train')]
    np.testing.assert_allclose(ddp_loss, one_loss, rtol=1e-5)
    capsys.readouterr()


@pytest.mark.parametrize('inject', ['loss', 'weight'])
def test_nan_mid_run_stops_and_keeps_the_last_good_checkpoint(tmp_path, inject):
    """A NaN loss, or a NaN weight after an optimiser step, at step 5: the step-4 files stay."""
    from safetensors.torch import load_file, save_file

    from promptda_ros.core.errors import NonFiniteError
    from promptda_ros.train import loop

    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    run = loop.RunFolder(str(tmp_path / 'run'), 'test')
    run.create({})
    ctx = loop.setup_distributed('cpu')
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(8, 3), torch.randn(8, 1)
    calls = []

    def loss_fn(m, batch):
        calls.append(1)
        loss = ((m(x) - y) ** 2).mean()
        if len(calls) == 5:
            if inject == 'loss':
                return loss * float('nan'), {}
            with torch.no_grad():
                m.weight[0, 0] = float('nan')   # the optimiser step keeps it NaN
        return loss, {}

    def save(tag):
        path = run.file(f'{tag}.safetensors')
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, path + '.tmp')
        os.replace(path + '.tmp', path)

    config = loop.LoopConfig(steps=10, log_every=1, save_every=2, progress=False)
    with pytest.raises(NonFiniteError, match='step 5.*keeps its last checkpoint'):
        loop.run_loop(model, optimizer, None, iter(range(100)), loss_fn, run, ctx, config,
                      save=save)
    assert run.load_state()['step'] == 4
    weights = load_file(run.file('last.safetensors'))
    assert all(torch.isfinite(v).all() for v in weights.values())
    assert [r['step'] for r in run.records()] == [1, 2, 3, 4]
    assert not [n for n in os.listdir(run.path) if n.endswith('.tmp')]


def test_resume_refuses_a_half_written_metrics_file(sample, tmp_path, capsys):
    _, init, _, frames = sample
    out = str(tmp_path / 'run')
    assert train_main(['--data', frames, '--init', init, '--val-fraction', '0', '--steps', '2',
                       '--out', out] + FAST) == 0
    with open(os.path.join(out, 'metrics.jsonl'), 'a', encoding='utf-8') as f:
        f.write('{"step": 3, "split": "tr')   # a crash in the middle of a line
    capsys.readouterr()
    rc = train_main(['--out', out, '--resume', '--steps', '4', '--quiet'])
    _one_line_error(capsys, rc, 'metrics.jsonl is corrupt at line 4')
