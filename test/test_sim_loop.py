# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""The simulator through real rclpy graphs: policy closed loop, demos recorded, CLI errors."""

import json
import os
import subprocess
import sys
import threading

import numpy as np
import pytest
import rclpy
from rclpy.parameter import Parameter
from trajectory_msgs.msg import JointTrajectory

os.environ['HF_HUB_OFFLINE'] = '1'

from promptda_policy.control.arm_profiles import get_profile  # noqa: E402
from promptda_policy.lerobot_adapter import LeRobotDataset  # noqa: E402
from promptda_policy.synthetic import make_stats, save_untrained_policy  # noqa: E402
from promptda_ros.core.errors import PromptDAError  # noqa: E402
from promptda_sim import scene  # noqa: E402
from promptda_sim.graph import SimGraph  # noqa: E402

DOMAIN_ID = 93
PROFILE = get_profile('unitree_h1_right_arm_gripper')
TINY = dict(dim_model=32, n_heads=2, dim_feedforward=64, n_encoder_layers=1,
            n_decoder_layers=1, chunk_size=10, n_action_steps=10)


@pytest.fixture(scope='module')
def context():
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=DOMAIN_ID)
    yield ctx
    rclpy.try_shutdown(context=ctx)


@pytest.fixture(scope='module')
def untrained(tmp_path_factory):
    """A random-init tiny ACT-depth policy for the 5 joints, depth 60x80."""
    path = str(tmp_path_factory.mktemp('policy') / 'pretrained_model')
    stats = make_stats(5, depth_mean=0.9, depth_std=0.3, joint_mean=scene.HOME,
                       joint_std=np.array([0.5, 0.5, 0.5, 0.5, 0.02]))
    return save_untrained_policy(path, 60, 80, 5, stats=stats,
                                 joint_names=list(scene.JOINT_NAMES), **TINY)


def test_untrained_policy_closed_loop_stays_inside_the_limits(context, untrained):
    graph = SimGraph(context, depth_source='default', policy_path=untrained,
                     namespace='/loop')
    got = []
    lock = threading.Lock()

    def keep(msg):
        with lock:
            got.append((list(msg.joint_names), np.array(msg.points[0].positions)))

    graph.driver.create_subscription(JointTrajectory, 'command', keep, 50)
    try:
        graph.wait_depth()
        result = graph.run_policy_episode(scene.EpisodeConfig(0, 'green_can', 'near'),
                                          timeout_s=3.0)
        assert graph.policy.worker.completed > 0          # the network ran on perception depth
        assert graph.perception is not None
        bad = graph.sim.bad_commands
        rejected = graph.sim.set_parameters([Parameter('object', value='cup')])[0]
    finally:
        graph.close()
    assert not result['success']
    assert rejected.successful is False and 'unknown object' in rejected.reason
    assert bad == 0
    with lock:
        assert len(got) >= 30, len(got)    # >= 1 s of 30 Hz commands
        names = {tuple(n) for n, _ in got}
        pos = np.stack([p for _, p in got])
    assert names == {scene.JOINT_NAMES}
    assert np.all(pos >= PROFILE.lower - 1e-9) and np.all(pos <= PROFILE.upper + 1e-9)
    # No jumps, holds included: one tick moves a joint at most max_velocity / 30 Hz (a hold
    # keeps the last command; it used to latch the measured pose, a step of the tracking lag).
    step = np.abs(np.diff(pos, axis=0)).max(axis=0)
    assert np.all(step <= PROFILE.max_velocity / 30.0 + 1e-9), step


def test_expert_demo_recorded_through_the_topics(context, tmp_path):
    root = str(tmp_path / 'demos')
    graph = SimGraph(context, depth_source='true', expert=True, record_root=root,
                     real_time_factor=2.0, namespace='/demo')
    try:
        graph.wait_depth()
        result = graph.run_expert_episode(scene.EpisodeConfig(2, 'red_can', 'middle'),
                                          record=True)
    finally:
        graph.close()
    assert result['success'], result
    assert 'saved episode 0' in result['recorder'], result
    ds = LeRobotDataset('local/promptda_demos', root=root, depth_output_unit='m')
    assert ds.meta.total_episodes == 1
    assert list(ds.meta.features['action']['names']) == list(scene.JOINT_NAMES)
    assert tuple(ds.meta.features['observation.images.depth']['shape']) == (120, 160, 1)
    n = len(ds)
    assert n >= 150, n                   # ~8 s of expert motion at 30 frames/s
    first, last = ds[0], ds[n - 1]
    # The demo starts at the reset pose: the expert's plan waits for the recorder, so the
    # part of the reach that decides where to go is in the data.
    assert np.allclose(first['observation.state'].numpy()[:4], scene.HOME[:4], atol=0.02)
    depth = first['observation.images.depth'][0].numpy()
    assert 0.3 < float(np.median(depth[depth > 0])) < 2.0
    # The gripper opens at the start, holds the can in between, opens over the box.
    grip = np.array([float(ds[i]['action'][4]) for i in range(0, n, 10)])
    assert grip[0] == pytest.approx(scene.GRIPPER_OPEN, abs=1e-4)
    assert grip.min() == pytest.approx(scene.GRIPPER_CLOSED, abs=1e-3)
    assert float(last['action'][4]) == pytest.approx(scene.GRIPPER_OPEN, abs=1e-4)


def test_a_second_simulation_on_the_domain_is_refused(context):
    from rosgraph_msgs.msg import Clock
    graph = SimGraph(context, depth_source='true', namespace='/alone')
    intruder = rclpy.create_node('other_simulator', context=context)
    intruder.create_publisher(Clock, '/clock', 10)
    try:
        graph.wait_depth()
        with pytest.raises(PromptDAError, match='2 nodes publish /clock on ROS domain 93'):
            graph.reset(scene.EpisodeConfig(0, 'red_can', 'near'))
        intruder.destroy_node()
        intruder = None
        graph.reset(scene.EpisodeConfig(0, 'red_can', 'near'))   # alone again: it goes on
    finally:
        if intruder is not None:
            intruder.destroy_node()
        graph.close()


def _cli(*args, timeout=120):
    env = dict(os.environ, ROS_DOMAIN_ID=str(DOMAIN_ID + 1))
    return subprocess.run([sys.executable, '-c', 'import sys; from %s import %s as m; '
                           'sys.exit(m(sys.argv[1:]))' % args[0]] + list(args[1:]),
                          capture_output=True, text=True, timeout=timeout, env=env)


def test_cli_errors_are_one_line(tmp_path, untrained):
    sim = ('promptda_sim.cli', 'main')
    evaluate = ('promptda_sim.graph', 'main')
    out = _cli(sim, '--object', 'cup')
    assert out.returncode == 2 and out.stderr.strip().splitlines()[-1].startswith(
        "error: argument --object: invalid choice: 'cup'"), out.stderr
    out = _cli(evaluate, untrained, '--positions', 'near,close')
    assert out.returncode == 1 and "error: unknown position 'close'" in out.stderr
    assert 'Traceback' not in out.stderr
    four = save_untrained_policy(str(tmp_path / 'four'), 60, 80, 4,
                                 joint_names=list(scene.JOINT_NAMES[:4]), **TINY)
    out = _cli(evaluate, four, '--episodes', '1')
    assert out.returncode == 1 and '(state 4, action 4 values)' in out.stderr, out.stderr
    assert 'right_gripper_joint' in out.stderr
    # A policy saved without names, trained on other joint names (read from its dataset).
    old = save_untrained_policy(str(tmp_path / 'old'), 60, 80, 5, **TINY)
    data = tmp_path / 'data'
    (data / 'meta').mkdir(parents=True)
    feature = {'shape': [5], 'names': ['a', 'b', 'c', 'd', 'e']}
    (data / 'meta' / 'info.json').write_text(json.dumps(
        {'features': {'observation.state': feature, 'action': feature}}))
    with open(os.path.join(old, 'train_config.json'), 'w', encoding='utf-8') as f:
        json.dump({'dataset': {'root': str(data)}}, f)
    out = _cli(evaluate, old, '--episodes', '1')
    assert out.returncode == 1 and 'acts on joints [a, b, c, d, e]' in out.stderr, out.stderr
