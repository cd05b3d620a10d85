# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""CPU inference time of the depth ACT policy (default config) at 480x640 depth.

Usage::

    python bench/bench_policy.py [--height 480] [--width 640] [--threads 2] [--runs 10]

Builds an untrained checkpoint of the default ``act_depth`` config (ResNet18, dim_model 512,
4 encoder / 1 decoder layers, chunk 100, H1 right arm: 4 joints), loads it through the same
path as the node (``from_pretrained`` + processors) and times ``predict_chunk`` (normalise ->
network -> unnormalise). Prints one line per setting, median and p90 in ms.

With ``--node-seconds N`` it then runs the ROS policy node in-process on that checkpoint
(synthetic 15 Hz depth and 50 Hz joint states, policy enabled) and prints the command rate
the 30 Hz control loop achieved while inference ran in the worker thread.
"""

import argparse
import os
import sys
import tempfile
import time

import numpy as np


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return 0."""
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--height', type=int, default=480, help='depth rows (%(default)s)')
    p.add_argument('--width', type=int, default=640, help='depth columns (%(default)s)')
    p.add_argument('--threads', type=int, default=2, help='torch CPU threads (%(default)s)')
    p.add_argument('--runs', type=int, default=10, help='timed runs (%(default)s)')
    p.add_argument('--chunk-size', type=int, default=100, help='actions per chunk (%(default)s)')
    p.add_argument('--node-seconds', type=float, default=0.0,
                   help='also run the ROS node for this long and report its control rate')
    args = p.parse_args(argv)

    import torch

    from promptda_policy.inference import DepthPolicy
    from promptda_policy.synthetic import save_untrained_policy

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        path = save_untrained_policy(os.path.join(tmp, 'ckpt'), args.height, args.width, 4,
                                     chunk_size=args.chunk_size,
                                     n_action_steps=args.chunk_size)
        policy = DepthPolicy(path)
        params = sum(p.numel() for p in policy.policy.parameters())
        rng = np.random.default_rng(0)
        depth = rng.uniform(0.3, 3.0, (args.height, args.width)).astype(np.float32)
        state = np.zeros(4)
        policy.predict_chunk(depth, state)  # warm-up
        times = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            policy.predict_chunk(depth, state)
            times.append((time.perf_counter() - t0) * 1e3)
        if args.node_seconds > 0:
            node_rate(path, depth, args.node_seconds, args.threads)
    times = np.array(times)
    print('act_depth default config (%.1f M params), depth %dx%d, chunk %d, %d CPU threads: '
          'median %.0f ms, p90 %.0f ms over %d runs'
          % (params / 1e6, args.height, args.width, args.chunk_size, args.threads,
             np.median(times), np.percentile(times, 90), args.runs))
    return 0


def node_rate(path: str, depth: np.ndarray, seconds: float, threads: int) -> None:
    """Run the policy node with synthetic inputs; print the achieved command rate (Hz)."""
    import array
    import threading

    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image, JointState
    from std_srvs.srv import SetBool
    from trajectory_msgs.msg import JointTrajectory

    from promptda_policy.control.arm_profiles import H1_RIGHT_ARM_JOINTS
    from promptda_policy.ros.policy_node import PolicyNode

    context = rclpy.Context()
    rclpy.init(context=context, domain_id=int(os.environ.get('ROS_DOMAIN_ID', '77')))
    node = PolicyNode(context=context, parameter_overrides=[
        Parameter('policy_path', Parameter.Type.STRING, path),
        Parameter('num_threads', Parameter.Type.INTEGER, threads),
        Parameter('max_depth_age_s', Parameter.Type.DOUBLE, 5.0),
        Parameter('estop_required', Parameter.Type.BOOL, False)])  # no e-stop publisher here
    io = rclpy.create_node('bench_io', context=context)
    h, w = depth.shape
    dpub = io.create_publisher(Image, 'depth', qos_profile_sensor_data)
    jpub = io.create_publisher(JointState, 'joint_states', 10)
    stamps = []
    io.create_subscription(JointTrajectory, 'command', lambda m: stamps.append(time.monotonic()),
                           10)

    # Built once: array('B') takes rclpy's fast path; bytes would be checked per element.
    depth_msg = Image(height=h, width=w, encoding='32FC1', step=w * 4,
                      data=array.array('B', depth.tobytes()))

    def pub_depth():
        depth_msg.header.stamp = io.get_clock().now().to_msg()
        dpub.publish(depth_msg)

    def pub_joints():
        msg = JointState(name=list(H1_RIGHT_ARM_JOINTS), position=[0.0] * 4)
        msg.header.stamp = io.get_clock().now().to_msg()
        jpub.publish(msg)

    io.create_timer(1 / 15.0, pub_depth)
    io.create_timer(1 / 50.0, pub_joints)
    executor = SingleThreadedExecutor(context=context)  # as promptda-policy runs it
    executor.add_node(node)
    executor.add_node(io)
    threading.Thread(target=executor.spin, daemon=True).start()
    client = io.create_client(SetBool, 'promptda_policy/enable')
    client.wait_for_service(timeout_sec=10.0)
    client.call_async(SetBool.Request(data=True))
    time.sleep(1.0)
    stamps.clear()
    time.sleep(seconds)
    got = np.array(stamps)
    executor.shutdown()
    node.destroy_node()
    io.destroy_node()
    rclpy.shutdown(context=context)
    gaps = np.diff(got) * 1e3 if got.size > 1 else np.array([np.nan])
    print('policy node: %.1f commands/s over %.1f s (target 30), max gap %.0f ms, '
          '%d chunks inferred (last %.0f ms), %d depth frames dropped by the worker'
          % ((got.size - 1) / (got[-1] - got[0]) if got.size > 1 else 0.0, seconds,
             np.nanmax(gaps), node.worker.completed, node.worker.last_latency_s * 1e3,
             node.worker.dropped))


if __name__ == '__main__':
    sys.exit(main())
