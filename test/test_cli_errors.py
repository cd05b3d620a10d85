# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Bad inputs to every CLI: a non-zero exit and one ``error:`` line, never a traceback or a hang.

The console scripts' functions run in child processes, one per group of cases (torch and lerobot
are imported once per group); each case's stderr is captured at the file-descriptor level, so
log lines and C-level writes count too. The node CLI runs as its own process with a timeout.
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
    return root


def _depth(f, **changes):
    args = {'--image': f / 'image.png', '--prompt': f / 'prompt.npy',
            '--checkpoint': f / 'tiny.safetensors', '--out': f / 'out' / 'depth.npy'}
    args.update(changes)
    return [str(v) for kv in args.items() for v in kv]


# (id, console script, argv builder), grouped by the heavy imports they share
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


def _check_one_line(case: str, rc, stderr: str) -> None:
    assert rc != 0, f'{case}: exit status 0'
    assert 'Traceback' not in stderr and rc != 'traceback', f'{case}:\n{stderr}'
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('error: '), f'{case}: {lines}'


@pytest.mark.parametrize('group', sorted(CASES))
def test_cli_bad_inputs_fail_in_one_line(files, group):
    cases = [(name, builder(files)) for _, name, builder in CASES[group]]
    proc = subprocess.run([sys.executable, '-c', DRIVER, json.dumps(cases)],
                          capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, ROS_DOMAIN_ID='91'))
    assert proc.returncode == 0, proc.stderr[-4000:]
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(results) == len(cases)
    for (case, _, _), result in zip(CASES[group], results):
        _check_one_line(case, result['rc'], result['stderr'])
    assert not (files / 'missing').exists(), 'export created the missing folder'


def test_policy_node_with_a_junk_checkpoint_exits_with_one_error_line(files):
    """The node logs through ROS (stderr) too; exactly one line is the CLI's error."""
    proc = subprocess.run([str(BIN / 'promptda-policy'), '--policy-path',
                           str(files / 'junk_policy')], capture_output=True, text=True,
                          timeout=120, env=dict(os.environ, ROS_DOMAIN_ID='91'))
    assert proc.returncode != 0 and 'Traceback' not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith('error: ')]
    assert len(errors) == 1 and 'junk_policy' in errors[0], proc.stderr
