# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""The console script as a subprocess, the launch file (parsed) and the RViz config."""

import ast
import os
from pathlib import Path
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import qos_profile_sensor_data, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import Header
import yaml

from promptda_ros.core import msg_codec
from promptda_ros.ros import conversions
from promptda_ros.sample.scene import SampleGenerator

ROOT = Path(__file__).resolve().parents[1]
DOMAIN_ID = 73
LAUNCH = ROOT / 'launch' / 'perception.launch.py'


def _terminal_sigint() -> None:
    """Let the child take Ctrl-C as a terminal delivers it (background jobs start ignoring it)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _script() -> list[str]:
    script = Path(sys.executable).parent / 'promptda-perception'
    assert script.exists(), 'promptda-perception is not installed (pip install -e .)'
    return [str(script)]


def test_console_script_serves_depth_and_exits_cleanly_on_sigint(tmp_path):
    # The shipped params file with one change, to see that it applies inside a namespace.
    config = yaml.safe_load((ROOT / 'config' / 'perception.yaml').read_text(encoding='utf-8'))
    config['/**/promptda_perception']['ros__parameters']['output_size'] = [48, 64]
    params_file = tmp_path / 'perception.yaml'
    params_file.write_text(yaml.safe_dump(config), encoding='utf-8')
    env = dict(os.environ, ROS_DOMAIN_ID=str(DOMAIN_ID), PYTHONUNBUFFERED='1')
    proc = subprocess.Popen(
        _script() + ['--ros-args', '--params-file', str(params_file),
                     '-r', '__ns:=/cli_test', '-p', 'extrinsics_source:=static'],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=_terminal_sigint)
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=DOMAIN_ID)
    node = rclpy.create_node('cli_tester', context=context, namespace='/cli_test')
    received = []
    node.create_subscription(Image, 'depth/image', received.append,
                             QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE))
    pubs = {name: node.create_publisher(cls, topic, qos_profile_sensor_data) for name, cls, topic
            in (('image', Image, 'image'), ('info', CameraInfo, 'camera_info'),
                ('points', PointCloud2, 'lidar/points'))}
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    gen = SampleGenerator(frames=1, width=128, height=96, seed=1)
    frame = gen.frame(0)
    # Camera and LiDAR share a frame id here: no extrinsics needed.
    points_cam = (gen.T_cam_lidar[:3, :3] @ frame.points_lidar.T).T + gen.T_cam_lidar[:3, 3]
    try:
        deadline = time.monotonic() + 60.0
        while time.monotonic() < deadline and not all(p.get_subscription_count()
                                                      for p in pubs.values()):
            assert proc.poll() is None, proc.communicate()[1]
            time.sleep(0.05)
        header = Header(stamp=conversions.ns_to_stamp(frame.stamp_ns), frame_id='cam')
        while time.monotonic() < deadline and not received:
            pubs['info'].publish(conversions.camera_info_msg(gen.camera, header))
            pubs['points'].publish(conversions.cloud_msg(points_cam.astype(np.float32), header))
            pubs['image'].publish(conversions.image_msg(frame.rgb, 'rgb8', header))
            time.sleep(0.2)
        assert received, 'no depth from the console script'
        depth = msg_codec.image_to_array(received[0])
        assert depth.shape == (48, 64) and received[0].header.frame_id == 'cam'
        truth = frame.depth_gt_m[::2, ::2]  # nearest-neighbour downscale by 2
        valid = np.isfinite(depth) & np.isfinite(truth)
        assert np.median(np.abs(depth[valid] - truth[valid])) < 0.05
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            _out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            _out, err = proc.communicate()
        executor.shutdown(timeout_sec=2.0)
        node.destroy_node()
        rclpy.try_shutdown(context=context)
    assert proc.returncode == 0, err
    assert 'Traceback' not in err, err


def test_sigint_while_frames_flow_exits_0_without_traceback():
    """SIGINT while the worker is busy: the worker stops before the context goes, no traceback."""
    domain = DOMAIN_ID + 2
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), PYTHONUNBUFFERED='1')
    proc = subprocess.Popen(_script() + ['--ros-args', '-p', 'publish_points:=false'], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_terminal_sigint)
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=domain)
    node = rclpy.create_node('sigint_tester', context=context)
    received = []
    node.create_subscription(Image, 'depth/image', received.append,
                             QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE))
    pubs = {name: node.create_publisher(cls, topic, qos_profile_sensor_data) for name, cls, topic
            in (('image', Image, 'image'), ('info', CameraInfo, 'camera_info'),
                ('points', PointCloud2, 'lidar/points'))}
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    gen = SampleGenerator(frames=1, width=640, height=480, seed=2)
    frame = gen.frame(0)
    points_cam = ((gen.T_cam_lidar[:3, :3] @ frame.points_lidar.T).T
                  + gen.T_cam_lidar[:3, 3]).astype(np.float32)
    image_msg = conversions.image_msg(frame.rgb, 'rgb8', Header(frame_id='cam'))
    cloud_msg = conversions.cloud_msg(points_cam, Header(frame_id='cam'))
    info_msg = conversions.camera_info_msg(gen.camera, Header(frame_id='cam'))
    stop = threading.Event()

    def publish_at_30_hz() -> None:
        while not stop.is_set():
            stamp = conversions.ns_to_stamp(time.time_ns())
            for msg in (info_msg, cloud_msg, image_msg):
                msg.header.stamp = stamp
            pubs['info'].publish(info_msg)
            pubs['points'].publish(cloud_msg)
            pubs['image'].publish(image_msg)
            time.sleep(1.0 / 30.0)

    publisher = threading.Thread(target=publish_at_30_hz, daemon=True)
    try:
        deadline = time.monotonic() + 60.0
        while time.monotonic() < deadline and not all(p.get_subscription_count()
                                                      for p in pubs.values()):
            assert proc.poll() is None, proc.communicate()[1]
            time.sleep(0.05)
        publisher.start()
        while time.monotonic() < deadline and len(received) < 5:
            time.sleep(0.05)
        assert len(received) >= 5, 'no depth from the console script'
        proc.send_signal(signal.SIGINT)  # frames keep flowing: the worker is mid-frame
        try:
            _out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            _out, err = proc.communicate()
    finally:
        stop.set()
        if publisher.is_alive():
            publisher.join(timeout=5.0)
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        executor.shutdown(timeout_sec=2.0)
        node.destroy_node()
        rclpy.try_shutdown(context=context)
    assert proc.returncode == 0, err
    assert 'Traceback' not in err and 'RCLError' not in err and '[ERROR]' not in err, err


def test_console_script_rejects_bad_parameters():
    env = dict(os.environ, ROS_DOMAIN_ID=str(DOMAIN_ID + 1))
    proc = subprocess.run(_script() + ['--help'], env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0 and 'depth/image' in proc.stdout and '--ros-args' in proc.stdout
    proc = subprocess.run(_script() + ['--ros-args', '-p', 'prompt_fill:=magic'], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith('error: ')
    assert 'prompt_fill' in proc.stderr
    proc = subprocess.run(_script() + ['--ros-args', '-p', 'backend:=no_such_backend'], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith('error: configure failed') and 'no_such_backend' in last
    missing = os.path.join(os.path.dirname(__file__), 'no_such_params.yaml')
    proc = subprocess.run(_script() + ['--ros-args', '--params-file', missing], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('error: ') and 'no_such_params.yaml' in lines[0]


def _launch_calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and
            getattr(n.func, 'id', getattr(n.func, 'attr', None)) == name]


def test_launch_file_declares_described_arguments_and_compiles():
    source = LAUNCH.read_text(encoding='utf-8')
    compile(source, str(LAUNCH), 'exec')
    tree = ast.parse(source)
    declared = {}
    for call in _launch_calls(tree, 'DeclareLaunchArgument'):
        keywords = {k.arg: k.value for k in call.keywords}
        assert 'description' in keywords, ast.unparse(call)
        description = ast.literal_eval(keywords['description'])
        assert len(description) > 10
        declared[ast.literal_eval(call.args[0])] = call
    assert {'namespace', 'params_file', 'image', 'camera_info', 'lidar_points', 'prompt_depth',
            'use_sim_time', 'log_level', 'autostart', 'publish_points'} <= set(declared)
    used = {ast.literal_eval(c.args[0]) for c in _launch_calls(tree, 'LaunchConfiguration')}
    assert set(declared) == used  # every argument is used, every use is declared
    imports = {(n.module, a.name) for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
               for a in n.names}
    assert ('launch_ros.actions', 'LifecycleNode') in imports
    assert ('ament_index_python.packages', 'get_package_share_directory') in imports
    node = _launch_calls(tree, 'LifecycleNode')[0]
    keywords = {k.arg: k.value for k in node.keywords}
    assert ast.literal_eval(keywords['name']) == 'promptda_perception'
    executable = ast.literal_eval(keywords['executable'])
    assert f"'{executable} = promptda_ros.ros.perception_node:main'" in \
        (ROOT / 'setup.py').read_text(encoding='utf-8')
    remapped = {ast.literal_eval(t.elts[0]) for t in keywords['remappings'].elts}
    assert {'image', 'camera_info', 'lidar/points', 'prompt_depth'} <= remapped


def test_rviz_config_shows_image_depth_and_points():
    config = yaml.safe_load((ROOT / 'config' / 'perception.rviz').read_text(encoding='utf-8'))
    displays = config['Visualization Manager']['Displays']
    by_topic = {d.get('Topic', {}).get('Value'): d['Class'] for d in displays}
    assert by_topic['/camera/image_raw'] == 'rviz_default_plugins/Image'
    assert by_topic['/depth/image'] == 'rviz_default_plugins/Image'
    assert by_topic['/depth/points'] == 'rviz_default_plugins/PointCloud2'
