# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""bench/device_check.py: the --smoke run on a bare image (no ROS, lerobot, MuJoCo, rosbags)."""

import importlib.util
import json
import math
import os
import subprocess
import sys

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, 'bench', 'device_check.py')
SECTIONS = ('network', 'onnx', 'pipeline', 'train', 'torchrun', 'policy')
ABSENT = ('rclpy', 'rosbags', 'mujoco', 'lerobot', 'matplotlib')  # not on a bare image

# Installed as sitecustomize in a folder on PYTHONPATH: the check and the training processes
# it starts then run as on a machine where these packages are not installed (a None entry in
# sys.modules fails their import, and importlib.util.find_spec reports them absent).
BLOCKER = """
import sys

for name in %r:
    sys.modules[name] = None
""" % (ABSENT,)


def _load_script():
    spec = importlib.util.spec_from_file_location('device_check', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _numbers(value):
    if isinstance(value, bool):
        return
    if isinstance(value, (int, float)):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _numbers(v)
    elif isinstance(value, list):
        for v in value:
            yield from _numbers(v)


@pytest.fixture(scope='module')
def smoke(tmp_path_factory):
    """Run ``device_check.py --smoke`` once without ROS, lerobot, MuJoCo and rosbags."""
    folder = tmp_path_factory.mktemp('device_check')
    site = folder / 'site'
    site.mkdir()
    (site / 'sitecustomize.py').write_text(BLOCKER, encoding='utf-8')
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), ROOT]),
               OMP_NUM_THREADS='1')
    out = folder / 'out'
    proc = subprocess.run([sys.executable, SCRIPT, '--smoke', '--out', str(out)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=500)
    with open(out / 'device_check.json', encoding='utf-8') as f:
        report = json.load(f)
    markdown = (out / 'device_check.md').read_text(encoding='utf-8')
    return proc, report, markdown


def test_smoke_runs_every_section_without_ros_or_lerobot(smoke):
    proc, report, _ = smoke
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert report['meta']['machine']['lerobot'] is None  # the packages were absent
    assert tuple(report['sections']) == SECTIONS
    for name, sec in report['sections'].items():
        assert sec['status'] in ('ok', 'skipped'), (name, sec.get('error'))
        assert sec['status'] == 'skipped' or sec['rows'], name
        for skipped in sec['skipped']:
            assert skipped['what'] and len(skipped['reason']) > 10, (name, skipped)
    values = list(_numbers(report))
    assert values and all(math.isfinite(v) for v in values)


def test_smoke_figures(smoke):
    _, report, _ = smoke
    net = report['sections']['network']
    latency = [r for r in net['rows'] if r['kind'] == 'latency']
    assert {r['precision'] for r in latency} >= {'fp32', 'bf16'}
    assert all(r['p99_ms'] >= r['p50_ms'] > 0 and r['fps'] > 0 for r in latency)
    conformance = {r['precision']: r for r in net['rows'] if r['kind'] == 'conformance'}
    assert conformance['fp32']['max_abs_vs_fp32_m'] == 0.0
    assert conformance['fp32']['max_abs_vs_official_m'] <= 1e-3
    assert 0.0 < conformance['bf16']['max_abs_vs_fp32_m'] <= 1e-2
    if not torch.cuda.is_available():
        reasons = ' '.join(s['reason'] for s in net['skipped'])
        assert 'fp16' in reasons and 'CUDA only' in reasons
    onnx = report['sections']['onnx']['rows']
    assert any(r['provider'] == 'CPUExecutionProvider' and r['max_abs_vs_torch_fp32_m'] < 1e-3
               for r in onnx)
    stages = {r['stage']: r for r in report['sections']['pipeline']['rows']}
    assert set(stages) == {'end to end', 'decode', 'prompt', 'network'}
    assert stages['end to end']['p50_ms'] >= stages['network']['p50_ms']
    assert 0.0 < stages['end to end']['valid_fraction'] <= 1.0
    (train,) = report['sections']['train']['rows']
    assert train['steps'] == 3 and train['steps_per_s'] > 0
    # Without matplotlib only the curves plot after the last step fails; the figures stay.
    assert any('matplotlib' in s['reason'] for s in report['sections']['train']['skipped'])
    policy = report['sections']['policy']
    assert policy['rows'][0]['model'].startswith('ResNet18') and policy['rows'][0]['runs'] >= 1
    assert any('lerobot does not import' in s['reason'] for s in policy['skipped'])
    if torch.cuda.device_count() < 2:
        assert report['sections']['torchrun']['status'] == 'skipped'


def test_markdown_has_every_section_and_the_reasons(smoke):
    _, report, markdown = smoke
    for name in SECTIONS:
        assert '## %s' % name in markdown
    for sec in report['sections'].values():
        for skipped in sec['skipped']:
            assert 'skipped: %s' % skipped['reason'] in markdown
    assert '| p50_ms | p99_ms | fps |' in markdown


def test_policy_section_with_lerobot():
    """Where lerobot imports, the section measures ACT-depth itself (forward + backward)."""
    pytest.importorskip('lerobot')
    check = _load_script()
    settings = check.Settings(True, torch.device('cpu'))
    section = check.Section('policy', 60.0)
    check.run_policy(section, settings)
    (row,) = section.out['rows']
    assert row['model'] == 'ACT-depth' and row['steps_per_s'] > 0 and row['chunk'] == 5
    assert not section.out['skipped']


def test_onnx_section_without_the_onnx_package(monkeypatch, tmp_path):
    """torch.onnx.export needs the onnx package: without it the section says so and stops."""
    check = _load_script()
    monkeypatch.setitem(sys.modules, 'onnx', None)
    section = check.Section('onnx', 60.0)
    check.run_onnx(section, check.Settings(True, torch.device('cpu')), str(tmp_path))
    assert section.out['status'] == 'skipped' and not section.out['rows']
    (skipped,) = section.out['skipped']
    assert 'onnx (needed by torch.onnx.export) does not import' in skipped['reason']


def test_cuda_without_gpu_is_a_one_line_error(tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip('CUDA is available here')
    check = _load_script()
    assert check.main(['--device', 'cuda', '--out', str(tmp_path / 'x')]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith('error: ') and 'CUDA is not available' in err and '\n' not in err
    assert not (tmp_path / 'x').exists()
    assert check.main(['--sections', 'network,gpu', '--out', str(tmp_path / 'y')]) == 2
    assert 'unknown section(s) gpu' in capsys.readouterr().err
