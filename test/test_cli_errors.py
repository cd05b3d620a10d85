# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Bad inputs to every CLI: one ``error:`` line and the right exit status, never a traceback.

The console scripts' functions run in child processes, one per group of cases (torch and lerobot
are imported once per group); each case's stderr is captured at the file-descriptor level, so
log lines and C-level writes count too. The node CLI runs as its own process with a timeout.
A case may name its exit status: 2 for a usage error (argparse, before any work), 1 for a
runtime error; every case fails before heavy work (no training step, no simulated world).
"""

import json
import os
from pathlib import Path
import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest
import torch

from promptda_ros.model import checkpoint as ck
from promptda_ros.model.config import TINY
from promptda_ros.model.hf_adapter import PromptDANetwork

BIN = Path(sys.executable).parent

# Runs each (entry point, argv) of a group in this process and prints [{rc, stderr}] as JSON.
DRIVER = textwrap.dedent("""
    import importlib.metadata, json, os, sys, tempfile, traceback
    results = []
    scripts = {e.name: e for e in importlib.metadata.entry_points(group='console_scripts')}
    for name, argv in json.loads(sys.argv[1]):
        main = scripts[name].load()
        with tempfile.TemporaryFile(mode='w+') as tmp:
            sys.stderr.flush()
            saved = os.dup(2)
            os.dup2(tmp.fileno(), 2)
            try:
                try:
                    rc = main(argv)
                except SystemExit as exc:
                    rc = exc.code if isinstance(exc.code, int) else 1
                except BaseException:
                    traceback.print_exc()
                    rc = 'traceback'
                sys.stderr.flush()
            finally:
                os.dup2(saved, 2)
                os.close(saved)
            tmp.seek(0)
            results.append({'rc': rc, 'stderr': tmp.read()})
    print(json.dumps(results))
""")


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    """Tiny valid inputs and their broken variants, made once."""
    root = tmp_path_factory.mktemp('cli')
    torch.manual_seed(0)
    state = PromptDANetwork(TINY).hf_state_dict()
    ck.save_checkpoint(TINY, state, str(root / 'tiny.safetensors'), 'safetensors')
    ck.save_checkpoint(TINY, state, str(root / 'tiny_hf'), 'hf')
    weights = (root / 'tiny_hf' / 'model.safetensors').read_bytes()
    for name, config in (('bad_json_hf', '{"model_type": "prompt_depth_anything", '),
                         ('list_hf', '[1, 2]'),
                         ('bad_value_hf', '{"model_type": "prompt_depth_anything", '
                                          '"fusion_hidden_size": "x"}')):
        (root / name).mkdir()
        (root / name / 'config.json').write_text(config, encoding='utf-8')
        (root / name / 'model.safetensors').write_bytes(weights)
    rng = np.random.default_rng(0)
    cv2.imwrite(str(root / 'image.png'), rng.integers(0, 256, (96, 128, 3), dtype=np.uint8))
    for name, shape in (('prompt', (24, 32)), ('square', (32, 32)), ('portrait', (32, 24))):
        np.save(root / f'{name}.npy', np.full(shape, 2.0, np.float32))
    np.save(root / 'empty.npy', np.zeros((0,), np.float32))
    (root / 'junk_policy').mkdir()
    (root / 'junk_policy' / 'config.json').write_text('{"type": "act_depth"}', encoding='utf-8')
    (root / 'junk_policy' / 'model.safetensors').write_bytes(rng.bytes(100))
    open(root / 'zero_bytes.npy', 'wb').close()
    (root / 'a_file').write_text('not a folder', encoding='utf-8')
    _run_folders(root)
    _policy_files(root)
    return root


def _run_folders(root):
    """Run folders of promptda-train / promptda-adapt whose metrics.jsonl was cut mid-line."""
    for name, kind in (('train_run', 'promptda-train'), ('adapt_run', 'starrygazer-adapt')):
        run = root / name
        run.mkdir()
        (run / 'run.json').write_text(json.dumps({'kind': kind, 'format_version': 1,
                                                  'config': {}}), encoding='utf-8')
        (run / 'state.pt').write_bytes(b'')
        (run / 'metrics.jsonl').write_text('{"step": 1, "split": "train"}\n{"step": 2, "spl',
                                           encoding='utf-8')


def _policy_files(root):
    """A demo dataset description (2 episodes of the H1 arm) and policies for it and others."""
    from promptda_policy.control.arm_profiles import get_profile
    from promptda_policy.synthetic import save_untrained_policy
    from promptda_sim.scene import JOINT_NAMES

    names = list(get_profile('unitree_h1_right_arm').joint_names)
    joints = {'dtype': 'float32', 'shape': [4], 'names': names}
    info = {'fps': 30, 'total_episodes': 2, 'features': {
        'observation.images.depth': {'dtype': 'image', 'shape': [32, 32, 1]},
        'observation.state': joints, 'action': joints}}
    (root / 'dataset' / 'meta').mkdir(parents=True)
    (root / 'dataset' / 'meta' / 'info.json').write_text(json.dumps(info), encoding='utf-8')
    (root / 'list_dataset' / 'meta').mkdir(parents=True)
    (root / 'list_dataset' / 'meta' / 'info.json').write_text('[1, 2]', encoding='utf-8')
    tiny = dict(dim_model=32, n_heads=2, dim_feedforward=64, n_encoder_layers=1,
                n_decoder_layers=1, chunk_size=10, n_action_steps=10)
    save_untrained_policy(str(root / 'h1_policy'), 32, 32, 4, joint_names=names, **tiny)
    save_untrained_policy(str(root / 'j_policy'), 32, 32, 4,
                          joint_names=['j0', 'j1', 'j2', 'j3'], **tiny)
    save_untrained_policy(str(root / 'sim_policy'), 32, 32, 5,
                          joint_names=list(JOINT_NAMES), **tiny)
    for name, cut in (('junk_init', None), ('half_init', 0.5)):
        folder = root / name
        folder.mkdir()
        for f in ('config.json', 'model.safetensors'):
            data = (root / 'h1_policy' / f).read_bytes()
            if f == 'model.safetensors':
                data = data[:int(len(data) * cut)] if cut else b'junk' * 10
            (folder / f).write_bytes(data)


def _depth(f, **changes):
    args = {'--image': f / 'image.png', '--prompt': f / 'prompt.npy',
            '--checkpoint': f / 'tiny.safetensors', '--out': f / 'out' / 'depth.npy'}
    args.update(changes)
    return [str(v) for kv in args.items() for v in kv]


def _train(flag, value):
    return lambda f: ['--data', str(f), '--init', str(f / 'tiny.safetensors'), '--out',
                      str(f / 'train'), flag, value]


def _policy_train(*extra):
    def build(f):
        argv = ['--dataset', str(f / 'dataset'), '--output-dir', str(f / 'pt')] + list(extra)
        if '--init' in extra:
            argv[argv.index('--init') + 1] = str(f / extra[extra.index('--init') + 1])
        return argv
    return build


# (id, console script, argv builder[, exit status]), grouped by the heavy imports they share
CASES = {
    'torch': [
        ('depth empty npy', 'promptda-depth',
         lambda f: _depth(f, **{'--prompt': f / 'empty.npy'})),
        ('depth hf config not JSON', 'promptda-depth',
         lambda f: _depth(f, **{'--checkpoint': f / 'bad_json_hf'})),
        ('depth hf config a list', 'promptda-depth',
         lambda f: _depth(f, **{'--checkpoint': f / 'list_hf'})),
        ('depth hf config bad value', 'promptda-depth',
         lambda f: _depth(f, **{'--checkpoint': f / 'bad_value_hf'})),
        ('depth max-depth inf', 'promptda-depth', lambda f: _depth(f, **{'--max-depth': 'inf'})),
        ('depth square prompt', 'promptda-depth',
         lambda f: _depth(f, **{'--prompt': f / 'square.npy'})),
        ('depth portrait prompt', 'promptda-depth',
         lambda f: _depth(f, **{'--prompt': f / 'portrait.npy'})),
        ('convert hf config not JSON', 'promptda-convert',
         lambda f: [str(f / 'bad_json_hf'), str(f / 'o.safetensors'), '--to', 'safetensors']),
        ('convert hf config a list', 'promptda-convert',
         lambda f: [str(f / 'list_hf'), str(f / 'o.safetensors'), '--to', 'safetensors']),
        ('export into a missing folder', 'promptda-export',
         lambda f: ['--checkpoint', str(f / 'tiny.safetensors'), '--out',
                    str(f / 'missing' / 'model.onnx'), '--input-size', '28x28',
                    '--prompt-size', '8x8', '--no-check']),
        ('policy-eval junk checkpoint', 'promptda-policy-eval',
         lambda f: ['--policy', str(f / 'junk_policy'), '--dataset', str(f)]),
        ('depth zero-byte npy', 'promptda-depth',
         lambda f: _depth(f, **{'--prompt': f / 'zero_bytes.npy'}), 1),
    ],
    'train': [
        *[(f'train {flag} {value}', 'promptda-train', _train(flag, value), 2) for flag, value in (
            ('--warmup', '-3'), ('--clip-norm', 'nan'), ('--colour-jitter', '-1'),
            ('--save-every', '-1'), ('--range-noise', 'nan'), ('--workers', '-1'),
            ('--seed', '-1'), ('--max-depth', '-1'), ('--steps', '0'), ('--lr-vit', 'inf'),
            ('--azimuth-step', '1e-7'), ('--val-fraction', '1'))],
        ('train --out under a file', 'promptda-train',
         lambda f: ['--data', str(f), '--init', str(f / 'tiny.safetensors'), '--out',
                    str(f / 'a_file' / 'run')], 1),
        ('train --resume half-written metrics', 'promptda-train',
         lambda f: ['--out', str(f / 'train_run'), '--resume'], 1),
        *[(f'simulate-lidar {flag} {value}', 'promptda-simulate-lidar',
           lambda f, flag=flag, value=value: [str(f), '--out', str(f / 'sim.png'), flag, value],
           2) for flag, value in (('--azimuth-step', '1e-7'), ('--range-noise', 'nan'),
                                  ('--frame', '-1'), ('--beams', '0'))],
        ('simulate-lidar --out under a file', 'promptda-simulate-lidar',
         lambda f: [str(f), '--out', str(f / 'a_file' / 'sim.png')], 1),
        *[(f'adapt {flag} {value}', 'promptda-adapt',
           lambda f, flag=flag, value=value: [str(f), '--out', str(f / 'adapt'), flag, value],
           2) for flag, value in (('--seed', '-1'), ('--lr', 'nan'), ('--steps', '0'),
                                  ('--degrade', '1.5'), ('--batch', '-2'),
                                  ('--device', 'tpu9'))],
        ('adapt --resume half-written metrics', 'promptda-adapt',
         lambda f: [str(f), '--out', str(f / 'adapt_run'), '--resume'], 1),
        ('adapt --out under a file', 'promptda-adapt',
         lambda f: [str(f), '--out', str(f / 'a_file' / 'run')], 1),
        *[(f'demo {flag} {value}', 'promptda-demo',
           lambda f, flag=flag, value=value: ['--out', str(f / 'demo'), flag, value], 2)
          for flag, value in (('--frames', '1'), ('--width', '5'), ('--seed', '-1'))],
        ('demo --out under a file', 'promptda-demo',
         lambda f: ['--out', str(f / 'a_file' / 'demo'), '--frames', '2'], 1),
    ],
    'policy': [
        *[(f'policy-train {" ".join(extra)}', 'promptda-policy-train', _policy_train(*extra), 2)
          for extra in (('--lr', 'inf'), ('--lr', 'nan'), ('--lr', '-1'), ('--chunk-size', '0'),
                        ('--dim-model', '63', '--n-heads', '2'), ('--n-heads', '0'),
                        ('--num-workers', '-1'), ('--latent-dim', '0'), ('--device', 'tpu9'),
                        ('--steps', '-5'), ('--episodes', '3-1x'))],
        ('policy-train --episodes the dataset lacks', 'promptda-policy-train',
         _policy_train('--episodes', '5-9'), 1),
        ('policy-train dataset info a list', 'promptda-policy-train',
         lambda f: ['--dataset', str(f / 'list_dataset'), '--output-dir', str(f / 'pt')], 1),
        ('policy-train --output-dir under a file', 'promptda-policy-train',
         lambda f: ['--dataset', str(f / 'dataset'), '--output-dir',
                    str(f / 'a_file' / 'out')], 1),
        ('policy-train --output-dir exists', 'promptda-policy-train',
         lambda f: ['--dataset', str(f / 'dataset'), '--output-dir', str(f / 'dataset')], 1),
        ('policy-train --init junk weights', 'promptda-policy-train',
         _policy_train('--init', 'junk_init'), 1),
        ('policy-train --init half-written weights', 'promptda-policy-train',
         _policy_train('--init', 'half_init'), 1),
        ('policy-eval policy for other joints', 'promptda-policy-eval',
         lambda f: ['--policy', str(f / 'j_policy'), '--dataset', str(f / 'dataset')], 1),
        ('policy-eval --episodes the dataset lacks', 'promptda-policy-eval',
         lambda f: ['--policy', str(f / 'h1_policy'), '--dataset', str(f / 'dataset'),
                    '--episodes', '5-9'], 1),
        ('policy-eval --device tpu9', 'promptda-policy-eval',
         lambda f: ['--policy', str(f / 'h1_policy'), '--dataset', str(f / 'dataset'),
                    '--device', 'tpu9'], 2),
    ],
    'sim': [
        *[(f'sim {" ".join(extra)}', 'promptda-sim', lambda f, extra=extra: list(extra), 2)
          for extra in (('--expert', '--episodes', '0'), ('--expert', '--episodes', '-1'),
                        ('--expert', '--real-time-factor', '-1'),
                        ('--expert', '--real-time-factor', 'nan'), ('--seed', '-1'),
                        ('--object', 'cup'))],
        *[(f'sim -p {value}', 'promptda-sim', lambda f, value=value: ['--ros-args', '-p', value],
           1) for value in ('seed:=-1', 'tick_s:=5.0', 'object:=cup', 'command_type:=effort')],
        *[(f'sim-record {" ".join(extra)}', 'promptda-sim-record',
           lambda f, extra=extra: ['--root', str(f / 'rec')] + list(extra), 2)
          for extra in (('--episodes', '0'), ('--real-time-factor', 'nan'),
                        ('--depth-size', '8x8'), ('--seed', '-1'))],
        ('sim-record --root is a file', 'promptda-sim-record',
         lambda f: ['--root', str(f / 'a_file')], 1),
        ('sim-record --root under a file', 'promptda-sim-record',
         lambda f: ['--root', str(f / 'a_file' / 'rec')], 1),
        ('sim-record -p seed:=-1', 'promptda-sim-record',
         lambda f: ['--root', str(f / 'rec'), '--depth', 'true', '--ros-args', '-p',
                    'seed:=-1'], 1),
        *[(f'sim-eval {" ".join(extra)}', 'promptda-sim-eval',
           lambda f, extra=extra: [str(f / 'sim_policy'), '--out', str(f / 'se')] + list(extra),
           2) for extra in (('--episodes', '0'), ('--real-time-factor', 'nan'),
                            ('--timeout-s', '-1'), ('--seed', '-1'))],
        ('sim-eval --out is a file', 'promptda-sim-eval',
         lambda f: [str(f / 'sim_policy'), '--out', str(f / 'a_file')], 1),
        ('sim-eval --out under a file', 'promptda-sim-eval',
         lambda f: [str(f / 'sim_policy'), '--out', str(f / 'a_file' / 'se')], 1),
        ('sim-eval policy for other joints', 'promptda-sim-eval',
         lambda f: [str(f / 'h1_policy'), '--out', str(f / 'se')], 1),
    ],
    'nodes': [
        *[(f'policy node -p {" ".join(extra)}', 'promptda-policy',
           lambda f, extra=extra: ['--policy-path', str(f / 'h1_policy'), '--ros-args']
           + [x for v in extra for x in ('-p', v)], 1)
          for extra in (('control_rate_hz:=0.0',), ('num_threads:=-1',),
                        ('profile:=unitree_h1_right_arm_gripper', 'max_velocity:=[1.0]'),
                        ('max_velocity:=[1.0, 1.0]',), ('profile:=no_such_arm',))],
        ('recorder one cap for mixed units', 'promptda-policy-record',
         lambda f: ['--ros-args', '-p', f'root:={f / "rec_new"}', '-p',
                    'profile:=unitree_h1_right_arm_gripper', '-p', 'max_velocity:=[1.0]'], 1),
    ],
    'eval': [
        ('eval plot-frames -1', 'promptda-eval',
         lambda f: [str(f), '--out', str(f / 'eval'), '--plot-frames', '-1']),
        ('eval max-depth inf', 'promptda-eval',
         lambda f: [str(f), '--out', str(f / 'eval'), '--max-depth', 'inf']),
        ('eval stride 0', 'promptda-eval',
         lambda f: [str(f), '--out', str(f / 'eval'), '--stride', '0']),
    ],
}


def _check_one_line(case: str, rc, stderr: str, expected=None) -> None:
    assert rc != 0, f'{case}: exit status 0'
    assert 'Traceback' not in stderr and rc != 'traceback', f'{case}:\n{stderr}'
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('error: '), f'{case}: {lines}'
    assert expected is None or rc == expected, f'{case}: exit status {rc}, not {expected}'


@pytest.mark.parametrize('group', sorted(CASES))
def test_cli_bad_inputs_fail_in_one_line(files, group):
    cases = [(case[1], case[2](files)) for case in CASES[group]]
    proc = subprocess.run([sys.executable, '-c', DRIVER, json.dumps(cases)],
                          capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, ROS_DOMAIN_ID='91'))
    assert proc.returncode == 0, proc.stderr[-4000:]
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(results) == len(cases)
    for case, result in zip(CASES[group], results):
        _check_one_line(case[0], result['rc'], result['stderr'], *case[3:])
    for left in ('missing', 'pt', 'rec', 'train', 'adapt'):
        assert not (files / left).exists(), f'a failed command left {left}/ behind'


@pytest.mark.parametrize('policy', ['junk_policy', 'j_policy'])
def test_policy_node_with_a_bad_checkpoint_exits_with_one_error_line(files, policy):
    """A junk checkpoint, or one for other joints: one error line, the last one.

    The node logs through ROS (stderr) too; exactly one line is the CLI's error.
    """
    proc = subprocess.run([str(BIN / 'promptda-policy'), '--policy-path',
                           str(files / policy)], capture_output=True, text=True,
                          timeout=120, env=dict(os.environ, ROS_DOMAIN_ID='91'))
    assert proc.returncode != 0 and 'Traceback' not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith('error: ')]
    assert len(errors) == 1 and policy in errors[0], proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[-1] == errors[0], proc.stderr                # the reason is the last line
    assert not any('malloc thresholds' in line for line in lines), proc.stderr
