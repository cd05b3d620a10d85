# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Record demos through a real rclpy graph -> train on CPU -> save -> load -> evaluate -> run.

The teleop is synthetic: a box in the depth image sits at a different column per episode and
the commanded shoulder yaw moves towards a target that depends on that column.
"""

import json
import os
import threading
import time

import numpy as np
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Bool
from std_srvs.srv import SetBool, Trigger
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

os.environ['HF_HUB_OFFLINE'] = '1'

from promptda_policy import train  # noqa: E402
from promptda_policy.control.arm_profiles import get_profile  # noqa: E402
from promptda_policy.inference import DepthPolicy  # noqa: E402
from promptda_policy.lerobot_adapter import LeRobotDataset  # noqa: E402
from promptda_policy.ros.policy_node import PolicyNode  # noqa: E402
from promptda_policy.ros.recorder_node import RecorderNode  # noqa: E402

DOMAIN_ID = 87
H, W = 48, 64
PROFILE = get_profile('unitree_h1_right_arm')
TINY = ['--chunk-size', '10', '--dim-model', '64', '--n-heads', '2', '--dim-feedforward', '128',
        '--n-encoder-layers', '1', '--n-decoder-layers', '1', '--num-workers', '0']


def scene(column: int) -> np.ndarray:
    """(H, W) float32 metres: a wall at 1.5 m, a box at 0.8 m, invalid (NaN) top row."""
    d = np.full((H, W), 1.5, np.float32)
    d[20:36, column:column + 10] = 0.8
    d[0, :] = np.nan
    return d


class Teleop:
    """Publishes depth (15 Hz), joint states and commands (30 Hz); the arm tracks commands."""

    def __init__(self, context):
        self.node = rclpy.create_node('teleop', context=context)
        self.lock = threading.Lock()
        self.column = 10
        self.commanding = True
        self.position = np.zeros(4)
        self.depth_pub = self.node.create_publisher(Image, 'depth', qos_profile_sensor_data)
        self.joint_pub = self.node.create_publisher(JointState, 'joint_states', 10)
        self.cmd_pub = self.node.create_publisher(JointTrajectory, 'command', 10)
        self.record_pub = self.node.create_publisher(Bool, 'record', 10)
        self.node.create_timer(1 / 15.0, self._depth)
        self.node.create_timer(1 / 30.0, self._step)

    def _depth(self):
        d = scene(self.column)
        msg = Image(height=H, width=W, encoding='32FC1', step=W * 4, data=d.tobytes())
        msg.header.stamp = self.node.get_clock().now().to_msg()
        self.depth_pub.publish(msg)

    def _step(self):
        with self.lock:
            target = np.array([0.3, -0.2, (self.column - 30) / 30.0, 0.8])
            self.position = self.position + np.clip(target - self.position, -0.03, 0.03)
            pos = self.position.copy()
        now = self.node.get_clock().now().to_msg()
        if self.commanding:
            self.cmd_pub.publish(JointTrajectory(
                joint_names=list(PROFILE.joint_names),
                points=[JointTrajectoryPoint(positions=[float(v) for v in pos])]))
        js = JointState(name=list(PROFILE.joint_names), position=[float(v) for v in pos])
        js.header.stamp = now
        self.joint_pub.publish(js)


def _call(node, client, request, timeout=10.0):
    assert client.wait_for_service(timeout_sec=timeout)
    future = client.call_async(request)
    end = time.monotonic() + timeout
    while not future.done() and time.monotonic() < end:
        time.sleep(0.01)
    assert future.done(), 'service %s did not answer' % client.srv_name
    return future.result()


def _wait(condition, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture(scope='module')
def recorded(tmp_path_factory):
    """Record 3 episodes (2 via services, 1 via the record topic); return the dataset root."""
    root = str(tmp_path_factory.mktemp('demos') / 'dataset')
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=DOMAIN_ID)
    recorder = RecorderNode(context=context, parameter_overrides=[
        Parameter('root', Parameter.Type.STRING, root),
        Parameter('task', Parameter.Type.STRING, 'grasp the box'),
        # Generous ages: the test machine is shared and may stall this process briefly.
        Parameter('max_depth_age_s', Parameter.Type.DOUBLE, 0.5),
        Parameter('max_joint_state_age_s', Parameter.Type.DOUBLE, 0.5)])
    teleop = Teleop(context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(recorder)
    executor.add_node(teleop.node)
    threading.Thread(target=executor.spin, daemon=True).start()
    client = teleop.node.create_client(Trigger, 'promptda_policy_recorder/start_episode')
    stop = teleop.node.create_client(Trigger, 'promptda_policy_recorder/stop_episode')
    time.sleep(0.5)
    results = []
    for ep, column in enumerate((5, 30, 50)):
        with teleop.lock:
            teleop.column = column
            teleop.position = np.zeros(4)
        if ep < 2:
            results.append(_call(teleop.node, client, Trigger.Request()).success)
            # Record by frame count, not by wall time: a loaded machine slows the 30 Hz timer.
            results.append(_wait(lambda: recorder.writer.frames_in_episode >= 35, 30.0))
            results.append(_call(teleop.node, stop, Trigger.Request()).success)
        else:
            teleop.record_pub.publish(Bool(data=True))
            results.append(_wait(lambda: recorder.writer.recording))
            results.append(_wait(lambda: recorder.writer.frames_in_episode >= 35, 30.0))
            teleop.record_pub.publish(Bool(data=False))
            results.append(_wait(lambda: recorder.writer.episodes_saved == 3))
    saved = recorder.writer.episodes_saved
    executor.shutdown()
    recorder.close()
    recorder.destroy_node()
    teleop.node.destroy_node()
    rclpy.shutdown(context=context)
    assert all(results), results
    assert saved == 3
    return root


def test_recorded_dataset_is_lossless_depth(recorded):
    ds = LeRobotDataset('local/promptda_demos', root=recorded, depth_output_unit='m')
    assert ds.meta.total_episodes == 3
    assert ds.fps == 30
    ft = ds.meta.features['observation.images.depth']
    assert ft['info']['is_depth_map'] is True and tuple(ft['shape']) == (H, W, 1)
    assert list(ds.meta.features['action']['names']) == list(PROFILE.joint_names)
    lengths = [int(e['length']) for e in ds.meta.episodes]
    assert all(n >= 10 for n in lengths), lengths
    last = ds[sum(lengths) - 1]
    expected = np.nan_to_num(scene(50), nan=0.0)
    assert np.array_equal(last['observation.images.depth'][0].numpy(), expected)
    assert last['task'] == 'grasp the box'
    # Actions are the commanded positions: the yaw target of episode 2 is (50 - 30) / 30.
    assert abs(float(last['action'][2]) - 20 / 30) < 1e-5
    stats = ds.meta.stats['observation.images.depth']
    mean = np.asarray(stats['mean']).reshape(-1)
    assert mean.size == 1 and 0.7 < float(mean[0]) < 1.5


def test_train_save_load_eval_and_run(recorded, tmp_path, capsys):
    out = str(tmp_path / 'run')
    assert train.main(['--dataset', recorded, '--output-dir', out, '--steps', '4',
                       '--batch-size', '4', '--episodes', '0-1', '--log-freq', '2'] + TINY) == 0
    ckpt = os.path.join(out, 'checkpoints', 'last', 'pretrained_model')
    with open(os.path.join(ckpt, 'config.json'), encoding='utf-8') as f:
        cfg = json.load(f)
    assert cfg['type'] == 'act_depth' and cfg['action_fps'] == 30
    assert cfg['joint_names'] == list(PROFILE.joint_names)   # the arm it may run on
    policy = DepthPolicy(ckpt)
    assert policy.policy.model.backbone.conv1.weight.shape[1] == 1
    chunk = policy.predict_chunk(scene(30), np.zeros(4))
    assert chunk.shape == (10, 4) and np.all(np.isfinite(chunk))
    capsys.readouterr()
    assert train.eval_main(['--policy', ckpt, '--dataset', recorded, '--episodes', '2']) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result['episodes'] == [2] and result['frames'] >= 10
    assert np.isfinite(result['l1_first']) and len(result['l1_per_joint']) == 4
    print('held-out action L1 after 4 steps: %.4f rad' % result['l1_first'])

    # The trained checkpoint drives the node: commands within limits once enabled.
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=DOMAIN_ID)
    node = PolicyNode(context=context, parameter_overrides=[
        Parameter('policy_path', Parameter.Type.STRING, ckpt),
        Parameter('max_tracking_error_rad', Parameter.Type.DOUBLE, 0.0),  # arm is scripted
        Parameter('estop_required', Parameter.Type.BOOL, False)])  # no e-stop publisher here
    teleop = Teleop(context)
    teleop.commanding = False  # the policy node publishes on 'command' now
    got = []
    teleop.node.create_subscription(JointTrajectory, 'command',
                                    lambda m: got.append(np.array(m.points[0].positions)), 10)
    enable = teleop.node.create_client(SetBool, 'promptda_policy/enable')
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    executor.add_node(teleop.node)
    threading.Thread(target=executor.spin, daemon=True).start()
    try:
        assert _call(teleop.node, enable, SetBool.Request(data=True)).success
        time.sleep(1.5)
    finally:
        executor.shutdown()
        node.destroy_node()
        teleop.node.destroy_node()
        rclpy.shutdown(context=context)
    assert len(got) > 10
    pos = np.stack(got)
    assert np.all(pos >= PROFILE.lower) and np.all(pos <= PROFILE.upper)
    assert node.worker.completed > 0


def _weights(ckpt):
    from safetensors.numpy import load_file
    return load_file(os.path.join(ckpt, 'model.safetensors'))


def test_init_fine_tunes_a_saved_policy_and_refuses_other_datasets(recorded, tmp_path, capsys):
    first = str(tmp_path / 'first')
    assert train.main(['--dataset', recorded, '--output-dir', first, '--steps', '2',
                       '--batch-size', '4', '--episodes', '0-1'] + TINY) == 0
    ckpt = os.path.join(first, 'checkpoints', 'last', 'pretrained_model')
    start = _weights(ckpt)
    # Learning rate 0: the run starts from the checkpoint, so every tensor comes back unchanged
    # (a new network would be random, and its architecture options are ignored: no TINY here).
    frozen = str(tmp_path / 'frozen')
    assert train.main(['--dataset', recorded, '--output-dir', frozen, '--steps', '1',
                       '--batch-size', '4', '--episodes', '2', '--init', ckpt,
                       '--lr', '0']) == 0
    same = _weights(os.path.join(frozen, 'checkpoints', 'last', 'pretrained_model'))
    assert same.keys() == start.keys()
    assert all(np.array_equal(same[k], start[k]) for k in start)
    moved = str(tmp_path / 'moved')
    assert train.main(['--dataset', recorded, '--output-dir', moved, '--steps', '1',
                       '--batch-size', '4', '--episodes', '2', '--init', ckpt,
                       '--lr', '1e-3']) == 0
    tuned = _weights(os.path.join(moved, 'checkpoints', 'last', 'pretrained_model'))
    changed = [k for k in start if not np.array_equal(tuned[k], start[k])]
    assert changed and tuned.keys() == start.keys()
    capsys.readouterr()
    # A dataset at another rate, or with another depth size, is refused in one line.
    other = tmp_path / 'other'
    import shutil
    shutil.copytree(recorded, other)
    info_path = other / 'meta' / 'info.json'
    info = json.loads(info_path.read_text())
    for change, message in ((('fps', 15), 'acts at 30 Hz, the dataset is recorded at 15 Hz'),
                            (('depth', [60, 80, 1]), 'takes observation.images.depth of shape')):
        edited = json.loads(json.dumps(info))
        if change[0] == 'fps':
            edited['fps'] = change[1]
        else:
            edited['features']['observation.images.depth']['shape'] = change[1]
        info_path.write_text(json.dumps(edited))
        assert train.main(['--dataset', str(other), '--output-dir', str(tmp_path / 'x'),
                           '--steps', '1', '--init', ckpt]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith('error: ') and message in err[0], err
    assert train.main(['--dataset', recorded, '--output-dir', str(tmp_path / 'y'),
                       '--steps', '1', '--init', str(tmp_path)]) == 1
    assert 'is not a saved policy' in capsys.readouterr().err
