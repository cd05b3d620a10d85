# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Launch file, parameter YAML and CLIs of the policy area (launch_ros not needed)."""

import ast
import os
import subprocess
import sys

import numpy as np
import pytest
import yaml

from promptda_policy.dataset_writer import EpisodeWriter
from promptda_policy.ros.policy_node import main as policy_main
from promptda_policy.ros.policy_node import POLICY_SPECS
from promptda_policy.ros.recorder_node import main as record_main
from promptda_policy.ros.recorder_node import RECORDER_SPECS
from promptda_policy.train import eval_main
from promptda_policy.train import main as train_main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAUNCH = os.path.join(ROOT, 'launch', 'policy.launch.py')
YAML = os.path.join(ROOT, 'config', 'policy.yaml')


def test_launch_file_compiles_and_documents_every_argument():
    with open(LAUNCH, encoding='utf-8') as f:
        source = f.read()
    tree = ast.parse(source)
    compile(tree, LAUNCH, 'exec')
    declared = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, 'id', '') == 'DeclareLaunchArgument':
            name = node.args[0].value
            kw = {k.arg: k.value for k in node.keywords}
            assert 'description' in kw and 'default_value' in kw, name
            declared[name] = kw
    for name in ('namespace', 'params_file', 'record', 'policy_path', 'dataset_root', 'depth',
                 'joint_states', 'command', 'estop', 'use_sim_time', 'log_level'):
        assert name in declared, name
    used = {n.args[0].value for n in ast.walk(tree) if isinstance(n, ast.Call)
            and getattr(n.func, 'id', '') == 'arg' and n.args}
    assert used <= set(declared), used - set(declared)
    assert "'promptda-policy'" in source and "'promptda-policy-record'" in source


def test_yaml_matches_declared_parameters():
    with open(YAML, encoding='utf-8') as f:
        data = yaml.safe_load(f)
    for node, specs in (('/**/promptda_policy', POLICY_SPECS),
                        ('/**/promptda_policy_recorder', RECORDER_SPECS)):
        params = data[node]['ros__parameters']
        assert set(params) == {s.name for s in specs}, node
        for spec in specs:
            if not isinstance(spec.default, list):
                assert type(params[spec.name]) is type(spec.default), spec.name
                assert params[spec.name] == spec.default, spec.name


def test_clis_help_and_fail_cleanly(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv('ROS_DOMAIN_ID', '88')
    for main in (policy_main, record_main, train_main, eval_main):
        with pytest.raises(SystemExit) as exc:
            main(['--help'])
        assert exc.value.code == 0
    capsys.readouterr()
    assert policy_main(['--policy-path', str(tmp_path / 'missing')]) == 1
    assert 'error:' in capsys.readouterr().err
    assert record_main([]) == 1
    assert 'root is empty' in capsys.readouterr().err
    assert train_main(['--dataset', str(tmp_path), '--output-dir', str(tmp_path / 'o')]) == 1
    assert 'not a LeRobotDataset' in capsys.readouterr().err
    assert eval_main(['--policy', str(tmp_path), '--dataset', str(tmp_path)]) == 1
    assert 'error:' in capsys.readouterr().err
    # An existing dataset folder is refused at start-up, not at the first episode.
    assert record_main(['--root', str(tmp_path)]) == 1
    assert 'already exists' in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        record_main(['--root', str(tmp_path / 'new'), '--fps', '0'])
    assert exc.value.code == 2 and '--fps must be >= 1' in capsys.readouterr().err
    for main in (policy_main, record_main):
        assert main(['--ros-args', '--params-file', str(tmp_path / 'missing.yaml')]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith('error:'), err


def test_stock_lerobot_train_cli_rebuilds_act_depth(tmp_path):
    """``lerobot-train --policy.type=act_depth`` with the plugin package trains and saves."""
    root = str(tmp_path / 'ds')
    writer = EpisodeWriter(root, 'local/cli', 30, 48, 64, ('a', 'b'), image_writer_threads=0)
    for ep in range(2):
        writer.start('grasp')
        for i in range(12):
            writer.add(np.full((48, 64), 1.0 + 0.1 * ep, np.float32), [0.01 * i, ep],
                       [0.01 * i + 0.01, ep])
        writer.stop()
    writer.close()
    out = tmp_path / 'out'
    cmd = [sys.executable, '-m', 'lerobot.scripts.lerobot_train', '--policy.type=act_depth',
           '--policy.discover_packages_path=promptda_policy.plugin',
           '--dataset.repo_id=local/cli', '--dataset.root=' + root,
           '--dataset.use_imagenet_stats=false', '--dataset.depth_output_unit=m',
           '--policy.device=cpu', '--policy.dim_model=64', '--policy.n_heads=2',
           '--policy.dim_feedforward=128', '--policy.n_encoder_layers=1',
           '--policy.chunk_size=10', '--policy.n_action_steps=10', '--steps=1',
           '--batch_size=2', '--num_workers=0', '--wandb.enable=false', '--save_freq=1',
           '--output_dir=' + str(out)]
    env = dict(os.environ, HF_HUB_OFFLINE='1', WANDB_MODE='disabled')
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240,
                          cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    saved = out / 'checkpoints' / 'last' / 'pretrained_model' / 'config.json'
    assert '"type": "act_depth"' in saved.read_text()
