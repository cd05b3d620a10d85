# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Closed loops on the simulator through the real nodes: expert demos, recording, policy scores.

Every loop is a real rclpy graph in one process (one executor thread, a private domain if
asked): ``promptda_sim`` (:mod:`promptda_sim.node`), the perception node when the depth
comes from the LiDAR (``default``, ``bilinear`` or ``promptda`` backend; ``true`` uses the
simulator's depth), and the policy node, the scripted expert or the expert plus the demo
recorder. Everything runs on the simulator's /clock (``use_sim_time``).

CLIs:

* ``promptda-sim --expert`` (see sim_node) plays expert episodes and prints their outcome;
* ``promptda-sim-record --root DIR --episodes N`` records expert demos through the recorder
  node (depth from the perception node's ``default`` backend by default);
* ``promptda-sim-eval POLICY --episodes N --out DIR`` scores a policy per depth source x object
  x position (the PromptDA paper's Table 4 layout) into ``success.md`` / ``success.json``, with
  the depth error on the object's pixels per object x depth source beside it
  (:mod:`promptda_sim.depth_error`), and an image strip of the first episode
  (``episode_strip.png``).
"""

import argparse
import json
import os
import sys
import threading
import time
from typing import Any

import numpy as np

from promptda_ros.backends import PROMPT_BACKENDS, WEIGHTS_FREE_BACKENDS
from promptda_ros.cli_args import (
    CliParser,
    hw_arg,
    interrupted_exit,
    new_folder_possible,
    number,
    positive_int,
    writable_folder,
)
from promptda_ros.core.errors import InputError, PromptDAError

# The simulator's true depth, or a perception backend that needs only RGB and the prompt (the
# table of promptda_ros.backends); the weights-free ones need no --checkpoint.
DEPTH_SOURCES = ('true',) + PROMPT_BACKENDS
WEIGHTS_FREE_SOURCES = ('true',) + WEIGHTS_FREE_BACKENDS
POLICY_PROFILE = 'unitree_h1_right_arm_gripper'
SPIN_JOIN_S = 10.0
"""Wall seconds :meth:`SimGraph.close` waits for the spin thread's last callback."""


def _lists(text: str, allowed: tuple, what: str) -> list:
    items = [t.strip() for t in text.split(',') if t.strip()]
    bad = [t for t in items if t not in allowed]
    if bad or not items:
        named = ', '.join(repr(b) for b in bad) or "''"
        raise InputError('unknown %s %s; known: %s' % (what, named, ', '.join(allowed)))
    return items


def check_policy_joints(policy_path: str) -> None:
    """Refuse a policy that does not act on the simulated arm's joints, in this order.

    Raises:
        InputError: naming the policy's and the arm's joint lists
            (:func:`promptda_policy.control.arm_fit.check_fits`).
    """
    from promptda_policy.control.arm_fit import check_fits, policy_signature
    from promptda_sim.scene import JOINT_NAMES
    check_fits(policy_signature(policy_path), JOINT_NAMES, 'the simulated arm')


def policy_depth_hw(policy_path: str) -> tuple | None:
    """(H, W) px of the depth a policy checkpoint was trained on (None when unknown).

    The perception node then outputs that size (``output_size``), as it did for the recorded
    demos, instead of the policy node resizing the camera-sized depth by nearest neighbour.
    """
    try:
        with open(os.path.join(policy_path, 'config.json'), encoding='utf-8') as f:
            features = json.load(f)['input_features']
        shape = [v['shape'] for k, v in features.items() if k.startswith('observation.images')]
        return (int(shape[0][-2]), int(shape[0][-1])) if shape else None
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None


class SimGraph:
    """The nodes of one loop on one executor thread.

    Args:
        context: an initialised rclpy Context.
        depth_source: one of :data:`DEPTH_SOURCES`: 'true' or a perception backend.
        policy_path: checkpoint directory for a policy node, or None.
        expert: run the scripted expert node.
        record_root: new dataset directory for the recorder node, or None.
        checkpoint: PromptDA checkpoint for depth_source 'promptda'.
        real_time_factor: sim seconds per wall second (0 = as fast as possible).
        namespace: namespace of every node.
        task: task string stored with recorded episodes.
        predictor: instead of ``policy_path``, an object with ``predict_chunk(depth, joint)``
            -> (T, J) actions (and ``fps``) the policy node runs (tests, stand-in learners).
        policy_params: extra policy node parameters (rclpy Parameters), e.g. how it plays
            its chunks.
        depth_hw: (h, w) px of the depth the policy / recorder gets (perception
            ``output_size``, or the camera size for 'true'); None = the camera's 120x160.
        input_size: (h, w) px network input of the ``promptda`` backend (multiples of 14, e.g.
            the size it was trained at); None = the backend's default.
    """

    def __init__(self, context, depth_source: str = 'default', policy_path: str | None = None,
                 expert: bool = False, record_root: str | None = None,
                 checkpoint: str = '', real_time_factor: float = 1.0, namespace: str = '',
                 task: str = 'put the object into the box', depth_hw: tuple | None = None,
                 predictor=None, policy_params: list | None = None,
                 input_size: tuple | None = None) -> None:
        from rclpy.parameter import Parameter

        from promptda_sim.node import SimNode

        if depth_source not in DEPTH_SOURCES:
            raise InputError('unknown depth source %r; known: %s'
                             % (depth_source, ', '.join(DEPTH_SOURCES)))
        if depth_source not in WEIGHTS_FREE_SOURCES and not checkpoint:
            raise InputError('depth source %s needs --checkpoint' % depth_source)
        self._sim_time = Parameter('use_sim_time', value=True)
        self.nodes: list[Any] = []
        self.context, self.namespace = context, namespace
        sim_params = [Parameter('real_time_factor', value=float(real_time_factor))]
        if depth_hw is not None and depth_source == 'true':
            sim_params += [Parameter('camera_height', value=int(depth_hw[0])),
                           Parameter('camera_width', value=int(depth_hw[1]))]
        self.sim = SimNode(context=context, namespace=namespace, parameter_overrides=sim_params)
        self.nodes.append(self.sim)
        self.perception: Any = None
        self.depth_topic = 'depth/true'
        if depth_source != 'true':
            self._start_perception(depth_source, checkpoint, depth_hw, input_size)
        remap = ['--ros-args', '-r', 'depth:=%s' % self.depth_topic]
        self.policy: Any = None
        if policy_path or predictor is not None:
            self._start_policy(policy_path, predictor, remap, policy_params)
        self.expert: Any = None
        if expert:
            from promptda_sim.node import ExpertNode
            self.expert = ExpertNode(context=context, namespace=namespace,
                                     parameter_overrides=[self._sim_time])
            self.nodes.append(self.expert)
        self.recorder: Any = None
        if record_root:
            self._start_recorder(record_root, task, remap)
        self._start_driver()

    def _start_perception(self, depth_source: str, checkpoint: str, depth_hw: tuple | None,
                          input_size: tuple | None) -> None:
        """Add the perception node, fed by the simulator's camera and LiDAR, on ``depth/image``."""
        from rclpy.parameter import Parameter

        from promptda_ros.core.transforms import matrix_to_quat
        from promptda_ros.ros.perception_node import PerceptionNode
        T = self.sim.world.T_camera_lidar()
        overrides = [
            self._sim_time, Parameter('backend', value=depth_source),
            Parameter('checkpoint', value=checkpoint),
            Parameter('extrinsics_source', value='static'),
            Parameter('lidar_to_camera_translation', value=[float(v) for v in T[:3, 3]]),
            Parameter('lidar_to_camera_rotation_xyzw',
                      value=[float(v) for v in matrix_to_quat(T[:3, :3])]),
            Parameter('prompt_height', value=int(self.sim.params['lidar_rows'])),
            Parameter('prompt_width', value=int(self.sim.params['lidar_columns'])),
            Parameter('publish_points', value=False)]
        if depth_hw is not None:
            overrides.append(Parameter('output_size', value=[int(v) for v in depth_hw]))
        if input_size is not None and depth_source == 'promptda':
            overrides.append(Parameter('input_size', value=[int(v) for v in input_size]))
        self.perception = PerceptionNode(context=self.context, namespace=self.namespace,
                                         parameter_overrides=overrides)
        self.nodes.append(self.perception)
        self.depth_topic = 'depth/image'

    def _start_policy(self, policy_path: str | None, predictor, remap: list,
                      policy_params: list | None) -> None:
        """Add the policy node on the graph's depth topic (the graph closes on a bad policy)."""
        from rclpy.parameter import Parameter

        from promptda_policy.ros.policy_node import PolicyNode
        overrides = [self._sim_time, Parameter('policy_path', value=policy_path or ''),
                     Parameter('profile', value=POLICY_PROFILE),
                     Parameter('estop_required', value=False)]  # a simulated arm
        self.policy = PolicyNode(predictor, context=self.context, namespace=self.namespace,
                                 cli_args=remap,
                                 parameter_overrides=overrides + list(policy_params or []))
        if self.policy.configure_error:
            error = self.policy.configure_error
            self.close()
            raise PromptDAError('policy node: %s' % error)
        self.nodes.append(self.policy)

    def _start_recorder(self, record_root: str, task: str, remap: list) -> None:
        """Add the demo recorder on the graph's depth topic."""
        from rclpy.parameter import Parameter

        # The dataset writer imports torch and lerobot: here, not inside the first
        # ~/start_episode call, which would block the executor for longer than the
        # driver's 30 s service timeout on a loaded CPU.
        import promptda_policy.dataset_writer  # noqa: F401
        from promptda_policy.ros.recorder_node import RecorderNode
        overrides = [self._sim_time, Parameter('root', value=record_root),
                     Parameter('task', value=task), Parameter('profile', value=POLICY_PROFILE),
                     Parameter('max_depth_age_s', value=0.3)]
        self.recorder = RecorderNode(context=self.context, namespace=self.namespace,
                                     cli_args=remap, parameter_overrides=overrides)
        self.nodes.append(self.recorder)

    def _start_driver(self) -> None:
        """Add the driver node (frames kept, service clients), then spin every node."""
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import qos_profile_sensor_data
        from sensor_msgs.msg import Image
        from std_srvs.srv import SetBool, Trigger
        self.driver = rclpy.create_node('promptda_sim_driver', context=self.context,
                                        namespace=self.namespace)
        self.nodes.append(self.driver)
        self._frames: list = []
        self._frame_lock = threading.Lock()
        self.capture = False
        self._latest: dict = {}
        self.driver.create_subscription(Image, 'image', lambda m: self._keep('rgb', m),
                                        qos_profile_sensor_data)
        self.driver.create_subscription(Image, self.depth_topic,
                                        lambda m: self._keep('depth', m),
                                        qos_profile_sensor_data)
        # The first depth served after a reset and the true depths of its stamp (object error).
        self._first_after_ns: int | None = None
        self._first_served: Any = None
        self._first_true: dict = {}
        if self.depth_topic != 'depth/true':
            self.driver.create_subscription(Image, 'depth/true', lambda m: self._keep('true', m),
                                            qos_profile_sensor_data)
        self._reset: Any = self.driver.create_client(Trigger, 'promptda_sim/reset')
        self._success: Any = self.driver.create_client(Trigger, 'promptda_sim/success')
        self._enable: Any = (self.driver.create_client(SetBool, 'promptda_policy/enable')
                             if self.policy else None)
        self._rec: Any = None
        if self.recorder:
            self._rec = {k: self.driver.create_client(
                Trigger, 'promptda_policy_recorder/%s_episode' % k) for k in ('start', 'stop')}
        self.executor = SingleThreadedExecutor(context=self.context)
        for node in self.nodes:
            self.executor.add_node(node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    # ------------------------------------------------------------------ helpers
    def _keep(self, key: str, msg) -> None:
        with self._frame_lock:
            self._latest[key] = msg
            if self.capture and key == 'depth' and 'rgb' in self._latest:
                self._frames.append((self._latest['rgb'], msg))
            if self._first_after_ns is not None and key in ('depth', 'true'):
                from promptda_ros.ros.conversions import stamp_to_ns
                stamp = stamp_to_ns(msg.header.stamp)
                if stamp < self._first_after_ns:
                    return
                if key == 'depth' and self._first_served is None:
                    self._first_served = msg
                if (key == 'true' or self.depth_topic == 'depth/true') and \
                        len(self._first_true) < 64:
                    self._first_true[stamp] = msg

    def first_frame_error(self, episode, timeout_s: float = 60.0) -> dict | None:
        """Depth error on the object's pixels of the first depth served in the episode.

        Call after :meth:`reset`; the frame, the first stamped ``FIRST_FRAME_AFTER_S`` or more
        after it, shows the arm at rest (the policy is not enabled yet). See
        :mod:`promptda_sim.depth_error`.

        Returns:
            :func:`~promptda_sim.depth_error.object_depth_error` of that frame, or None when no
            served frame with its true depth arrived within ``timeout_s`` wall seconds.
        """
        from promptda_ros.core.msg_codec import image_to_depth_m
        from promptda_ros.ros.conversions import stamp_to_ns
        from promptda_sim.depth_error import episode_object_error
        end = time.monotonic() + timeout_s
        pair = None
        while pair is None and time.monotonic() < end:
            with self._frame_lock:
                served = self._first_served
                if served is not None:
                    true = self._first_true.get(stamp_to_ns(served.header.stamp))
                    pair = (served, true) if true is not None else None
            time.sleep(0.02)
        with self._frame_lock:
            self._first_after_ns, self._first_served, self._first_true = None, None, {}
        if pair is None:
            return None
        return episode_object_error(episode, image_to_depth_m(pair[0]), image_to_depth_m(pair[1]))

    def take_frames(self) -> list:
        """Return and forget the (rgb Image, depth Image) pairs captured while ``capture``."""
        with self._frame_lock:
            frames, self._frames = self._frames, []
        return frames

    def call(self, client, request, timeout_s: float = 30.0):
        """Call a service from the driver and wait (wall seconds); raise PromptDAError."""
        if not client.wait_for_service(timeout_sec=timeout_s):
            raise PromptDAError('service %s is not available' % client.srv_name)
        future = client.call_async(request)
        end = time.monotonic() + timeout_s
        while not future.done() and time.monotonic() < end:
            time.sleep(0.005)
        if not future.done():
            raise PromptDAError('service %s did not answer in %.0f s'
                                % (client.srv_name, timeout_s))
        return future.result()

    def wait_sim(self, duration_s: float, stop=None, poll_s: float = 0.1) -> bool:
        """Wait ``duration_s`` of sim time (or until ``stop()`` is true); return stop's value."""
        end = self.sim.sim_time_s + duration_s
        while self.sim.sim_time_s < end:
            if stop is not None and stop():
                return True
            time.sleep(poll_s)
        return bool(stop()) if stop is not None else False

    def wait_depth(self, timeout_s: float = 60.0) -> None:
        """Wait (wall seconds) until the depth topic delivers an image."""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            with self._frame_lock:
                if 'depth' in self._latest:
                    return
            time.sleep(0.05)
        raise PromptDAError('no depth on %s after %.0f s' % (self.depth_topic, timeout_s))

    def success(self) -> bool:
        """Ask the simulator whether the object lies in the box."""
        from std_srvs.srv import Trigger
        return bool(self.call(self._success, Trigger.Request()).success)

    def check_alone(self, settle_s: float = 2.0) -> None:
        """Refuse to go on while another node publishes ``/clock`` on this ROS domain.

        Two simulations on one domain hear each other's clock, joint states and images: the
        time jumps back and forth, every input looks stale and the episodes fail for a reason
        that has nothing to do with the policy. A publisher that just went away (an earlier
        graph of this process) may stay listed for a moment, so the count is re-read for up to
        ``settle_s`` wall seconds before the error.

        Raises:
            PromptDAError: naming the domain and what to do.
        """
        deadline = time.monotonic() + settle_s
        while True:
            count = self.driver.count_publishers('/clock')
            if count <= 1 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        if count > 1:
            raise PromptDAError(
                '%d nodes publish /clock on ROS domain %d: another simulation runs on this '
                "domain, and its clock, joint states and images would mix with this one's; "
                'give each run its own ROS_DOMAIN_ID' % (count, self.context.get_domain_id()))

    def reset(self, episode) -> None:
        """Start ``episode`` (an EpisodeConfig) through the parameters and ``~/reset``.

        Raises:
            PromptDAError: another simulation shares the ROS domain (:meth:`check_alone`), or
                the simulator refused the reset.
        """
        from rclpy.parameter import Parameter
        from std_srvs.srv import Trigger
        self.check_alone()
        result = self.sim.set_parameters([Parameter('seed', value=int(episode.seed)),
                                          Parameter('object', value=episode.object),
                                          Parameter('position', value=episode.position)])
        bad = [r.reason for r in result if not r.successful]
        if bad:
            raise InputError(bad[0])
        answer = self.call(self._reset, Trigger.Request())
        if not answer.success:
            raise PromptDAError(answer.message)

    # ------------------------------------------------------------------ episodes
    def run_policy_episode(self, episode, timeout_s: float, capture: bool = False) -> dict:
        """Reset, enable the policy, wait for success or ``timeout_s`` of sim time.

        With ``capture`` the (rgb, depth) frames of the episode are kept for
        :meth:`take_frames`. Returns ``success``, ``sim_s`` and ``object_depth``: the
        :meth:`first_frame_error` of the episode, measured before the policy is enabled.
        """
        from std_srvs.srv import SetBool

        from promptda_sim.depth_error import FIRST_FRAME_AFTER_S
        self.call(self._enable, SetBool.Request(data=False))
        with self._frame_lock:
            self._first_after_ns, self._first_served, self._first_true = None, None, {}
        self.reset(episode)
        with self._frame_lock:
            self._first_after_ns = int(round((self.sim.episode_start_s + FIRST_FRAME_AFTER_S)
                                             * 1e9))
        self.wait_sim(0.3)   # fresh depth and joint states of the new episode
        object_depth = self.first_frame_error(episode)
        self.take_frames()
        self.capture = capture
        answer = self.call(self._enable, SetBool.Request(data=True))
        if not answer.success:
            raise PromptDAError('policy refused to enable: %s' % answer.message)
        start = self.sim.sim_time_s
        ok = self.wait_sim(timeout_s, stop=self.success, poll_s=0.25)
        self.capture = False
        self.call(self._enable, SetBool.Request(data=False))
        return {'success': ok, 'sim_s': self.sim.sim_time_s - start,
                'object_depth': object_depth}

    def run_expert_episode(self, episode, record: bool = False, settle_s: float = 1.0) -> dict:
        """Reset, let the expert play its plan (recording it if asked), then score."""
        from std_srvs.srv import Trigger
        self.expert.hold(record)   # a demo starts at the reset pose, not after the recorder
        try:
            self.reset(episode)
            start = self.sim.sim_time_s
            self.wait_sim(2.0, stop=lambda: self.expert.plan is not None)
            if record:
                answer = self.call(self._rec['start'], Trigger.Request())
                if not answer.success:
                    raise PromptDAError('recorder: %s' % answer.message)
        finally:
            self.expert.hold(False)
        self.wait_sim(60.0, stop=lambda: self.expert.done)
        self.wait_sim(settle_s)
        saved = None
        if record:
            saved = self.call(self._rec['stop'], Trigger.Request()).message
        return {'success': self.success(), 'sim_s': self.sim.sim_time_s - start,
                'recorder': saved}

    def close(self) -> None:
        """Stop the executor and destroy every node (the recorder finalises its dataset)."""
        executor = getattr(self, 'executor', None)
        if executor is not None:
            self.sim.release_renderers()
            executor.shutdown()
            # A callback still running (e.g. a reset after Ctrl-C) ends before its node is
            # destroyed: publishing on a destroyed node raises in the spin thread.
            self.thread.join(timeout=SPIN_JOIN_S)
        for node in reversed(self.nodes):
            if node is self.recorder:
                node.close()
            if node is self.perception and hasattr(node, 'release'):
                node.release()
            node.destroy_node()
        self.nodes = []


# ---------------------------------------------------------------------- reporting
def frames_strip(frames: list, columns: int = 6) -> np.ndarray:
    """Image strip of an episode: RGB on top, depth (turbo colour map, 0.3-1.3 m) below.

    Args:
        frames: (rgb Image, depth Image) message pairs in time order.
        columns: how many evenly spaced frames to show.

    Returns:
        (2 H, columns W, 3) uint8 RGB.
    """
    import cv2

    from promptda_ros.core.msg_codec import image_to_depth_m, image_to_rgb
    if not frames:
        raise InputError('no frames captured')
    idx = np.linspace(0, len(frames) - 1, min(columns, len(frames))).round().astype(int)
    tiles = []
    for i in idx:
        rgb = image_to_rgb(frames[i][0])
        depth = image_to_depth_m(frames[i][1])
        if depth.shape != rgb.shape[:2]:
            depth = cv2.resize(depth, (rgb.shape[1], rgb.shape[0]),
                               interpolation=cv2.INTER_NEAREST)
        d = np.nan_to_num((depth - 0.3) / 1.0, nan=1.0)
        d8 = (np.clip(d, 0.0, 1.0) * 255).astype(np.uint8)
        colour = cv2.applyColorMap(d8, cv2.COLORMAP_TURBO)[:, :, ::-1]
        tiles.append(np.concatenate([rgb, colour], axis=0))
    return np.concatenate(tiles, axis=1)


def success_table(results: dict, objects: list, positions: list) -> str:
    """Markdown table: rows depth sources, columns object x position, cells success %.

    Args:
        results: {source: {'object/position': [bool, ...]}}.
    """
    cols = ['%s %s' % (o, p) for o in objects for p in positions]
    lines = ['| depth source | ' + ' | '.join(cols) + ' | all |',
             '|---|' + '---|' * (len(cols) + 1)]
    for source, cells in results.items():
        row, total = [], []
        for o in objects:
            for p in positions:
                runs = cells.get('%s/%s' % (o, p), [])
                total += runs
                row.append('%.0f %% (%d/%d)' % (100.0 * np.mean(runs) if runs else 0.0,
                                                sum(runs), len(runs)))
        lines.append('| %s | ' % source + ' | '.join(row) + ' | %.0f %% |'
                     % (100.0 * np.mean(total) if total else 0.0))
    return '\n'.join(lines)


# ---------------------------------------------------------------------- CLIs
def _init(prog: str, ros_args: list, domain_id: int | None):
    import rclpy
    context = rclpy.Context()
    try:
        if domain_id is None:
            rclpy.init(args=[prog] + list(ros_args), context=context)
        else:
            rclpy.init(args=[prog] + list(ros_args), context=context, domain_id=int(domain_id))
    except RuntimeError as exc:
        raise PromptDAError(str(exc).strip().splitlines()[0])
    return context


def _shutdown(context) -> None:
    import rclpy
    rclpy.try_shutdown(context=context)


class _Session:
    """The rclpy context and the graphs of one CLI run; :meth:`close` ends them all."""

    def __init__(self, prog: str, ros_args: list) -> None:
        self.prog, self.ros_args = prog, ros_args
        self.context: Any = None
        self.graphs: list = []

    def graph(self, **options) -> 'SimGraph':
        """Start a :class:`SimGraph` (the context on first use) that :meth:`close` will end."""
        if self.context is None:
            self.context = _init(self.prog, self.ros_args, None)
        graph = SimGraph(self.context, **options)
        self.graphs.append(graph)
        return graph

    def close_graph(self, graph: 'SimGraph') -> None:
        """End one graph now (e.g. before the next depth source starts its own)."""
        self.graphs.remove(graph)
        graph.close()

    def close(self) -> None:
        """End the graphs still open (a recorder finalises its dataset), then the context."""
        while self.graphs:
            self.graphs.pop().close()
        if self.context is not None:
            _shutdown(self.context)


def _run_graph_cli(prog: str, ros_args: list, work, interrupted: str) -> int:
    """Run ``work(session)``: one-line errors (exit 1), Ctrl-C as ``interrupted`` (exit 130)."""
    session = _Session(prog, ros_args)
    stopped = False
    try:
        work(session)
    except PromptDAError as exc:
        print('error: %s' % exc, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        stopped = True
    finally:
        session.close()
    return interrupted_exit(interrupted) if stopped else 0


SIM_SEED = number(int, 0, 2 ** 31 - 1)   # the simulator's seed parameter range
REAL_TIME_FACTOR = number(float, 0.0, 20.0)   # its real_time_factor parameter range


def add_episode_arguments(p, episodes: int, seed: int, what: str) -> None:
    """Add --episodes, --seed and --real-time-factor (validated like the simulator's params)."""
    p.add_argument('--episodes', type=positive_int, default=episodes,
                   help='%s (%%(default)s)' % what)
    p.add_argument('--seed', type=SIM_SEED, default=seed,
                   help='first seed, 0..2^31-1 (%(default)s)')
    p.add_argument('--real-time-factor', type=REAL_TIME_FACTOR, default=1.0,
                   help='sim s per wall s, in [0, 20]; 0 = as fast as possible (%(default)s)')


def depth_size_arg(text: str) -> tuple:
    """Argparse ``type=`` for the recorded depth size ``HxW``, both sides >= 16 px."""
    height, width = hw_arg(text)
    if min(height, width) < 16:
        raise argparse.ArgumentTypeError("sides must be >= 16 px, got '%s'" % text)
    return height, width


def run_expert_cli(args, ros_args: list) -> int:
    """``promptda-sim --expert``: play expert episodes, print each outcome (exit 1 on errors)."""
    from promptda_sim.scene import EpisodeConfig

    def work(session: _Session) -> None:
        first = EpisodeConfig(int(args.seed or 0), args.object or 'red_can',
                              args.position or 'middle')
        graph = session.graph(depth_source='true', expert=True,
                              real_time_factor=args.real_time_factor)
        wins = 0
        for i in range(args.episodes):
            episode = EpisodeConfig(first.seed + i, first.object, first.position)
            result = graph.run_expert_episode(episode)
            wins += bool(result['success'])
            print('expert episode %d: %s at %s, seed %d: %s (%.1f s sim)'
                  % (i, episode.object, episode.position, episode.seed,
                     'SUCCESS' if result['success'] else 'failure', result['sim_s']),
                  flush=True)
        print('expert success: %d/%d' % (wins, args.episodes))
    return _run_graph_cli('promptda-sim', ros_args, work, 'the expert episodes stopped')


def record_main(argv: list[str] | None = None) -> int:
    """Console entry point of ``promptda-sim-record``: expert demos into a LeRobotDataset."""
    from promptda_ros.ros.node_kit import split_ros_args
    from promptda_sim.scene import OBJECTS, POSITIONS
    argv = list(sys.argv[1:] if argv is None else argv)
    p = CliParser(
        prog='promptda-sim-record',
        description='Record scripted-expert demonstrations in the simulator through the real '
                    'topics (sim -> perception -> recorder; expert on the command topic).')
    p.add_argument('--root', required=True, help='NEW dataset directory')
    p.add_argument('--objects', default='red_can,green_can',
                   help='comma-separated objects, cycled (%(default)s)')
    p.add_argument('--positions', default=','.join(POSITIONS),
                   help='comma-separated positions, cycled (%(default)s)')
    p.add_argument('--depth', default='default', choices=WEIGHTS_FREE_SOURCES,
                   help="depth the recorder stores: the simulator's true depth or a "
                        'perception backend on the LiDAR (%(default)s)')
    p.add_argument('--depth-size', type=depth_size_arg, default=(60, 80), metavar='HxW',
                   help='HxW px of the recorded depth (default 60x80; the camera is 120x160)')
    add_episode_arguments(p, 12, 100, 'episodes')
    argv, ros_args = split_ros_args(argv)
    args = p.parse_args(argv)

    def work(session: _Session) -> None:
        from promptda_sim.scene import EpisodeConfig
        objects = _lists(args.objects, OBJECTS, 'object')
        positions = _lists(args.positions, POSITIONS, 'position')
        new_folder_possible(args.root, '--root')
        graph = session.graph(depth_source=args.depth, expert=True, record_root=args.root,
                              real_time_factor=args.real_time_factor, depth_hw=args.depth_size)
        graph.wait_depth()
        cells = [(o, q) for o in objects for q in positions]
        wins = 0
        t0 = time.monotonic()
        for i in range(args.episodes):
            obj, pos = cells[i % len(cells)]
            result = graph.run_expert_episode(EpisodeConfig(args.seed + i, obj, pos),
                                              record=True)
            wins += bool(result['success'])
            outcome = 'SUCCESS' if result['success'] else 'failure'
            print('demo %d: %s at %s: %s; %s' % (i, obj, pos, outcome, result['recorder']),
                  flush=True)
        print('recorded %d demos into %s (expert success %d/%d, %.0f s)'
              % (args.episodes, args.root, wins, args.episodes, time.monotonic() - t0))
    # Closing the graph finalises the dataset: the episodes saved so far stay.
    return _run_graph_cli('promptda-sim-record', ros_args, work,
                          'the demos saved so far are in %s (an unfinished one was dropped)'
                          % args.root)


def _eval_parser() -> CliParser:
    """Return the argument parser of ``promptda-sim-eval``."""
    from promptda_sim.scene import OBJECTS, POSITIONS
    p = CliParser(
        prog='promptda-sim-eval',
        description='Score a depth ACT policy in the simulator, closed loop through the sim, '
                    'perception and policy nodes: success per depth source x object x '
                    'position (PromptDA Table 4 layout).')
    p.add_argument('policy', help='policy checkpoint directory (.../pretrained_model)')
    p.add_argument('--out', default='sim_eval', help='output directory (%(default)s)')
    p.add_argument('--objects', default=','.join(OBJECTS), help='(%(default)s)')
    p.add_argument('--positions', default=','.join(POSITIONS), help='(%(default)s)')
    p.add_argument('--depth-sources', default='true,bilinear,default',
                   help='comma-separated: true, bilinear, default, promptda (added when '
                        '--checkpoint is given) (%(default)s)')
    p.add_argument('--checkpoint', default='', help='PromptDA checkpoint (promptda row)')
    p.add_argument('--input-size', type=hw_arg, default=None, metavar='HxW',
                   help='network input of the promptda row, px, multiples of 14 (e.g. the '
                        "size it was trained at; default: the backend's)")
    p.add_argument('--timeout-s', type=number(float, 0.0, 3600.0, low_open=True), default=20.0,
                   help='sim seconds per episode, in (0, 3600] (%(default)s)')
    add_episode_arguments(p, 2, 1000, 'episodes per cell')
    return p


def _score_source(graph: 'SimGraph', source: str, args, objects: list, positions: list,
                  results: dict, errors: dict, strip_path: str | None) -> None:
    """Play ``args.episodes`` episodes per object x position on one graph; fill the tables.

    Args:
        graph: the graph of ``source``. results: {source: {'obj/pos': [success, ...]}} and
        errors: {source: {obj: [object depth error dicts]}}, both filled in place.
        strip_path: where to save the first episode's image strip, or None (saved already).
    """
    from promptda_sim.scene import EpisodeConfig
    graph.wait_depth()
    cells = results.setdefault(source, {})
    for obj in objects:
        for pos in positions:
            for k in range(args.episodes):
                episode = EpisodeConfig(args.seed + k, obj, pos)
                r = graph.run_policy_episode(episode, args.timeout_s,
                                             capture=strip_path is not None)
                if strip_path is not None:
                    _save_png(strip_path, frames_strip(graph.take_frames()))
                    strip_path = None
                cells.setdefault('%s/%s' % (obj, pos), []).append(bool(r['success']))
                e = r['object_depth']
                if e is not None:
                    errors.setdefault(source, {}).setdefault(obj, []).append(
                        dict(e, position=pos, seed=episode.seed))
                print('%s | %s %s seed %d: %s (%.1f s sim)%s'
                      % (source, obj, pos, episode.seed,
                         'SUCCESS' if r['success'] else 'failure', r['sim_s'],
                         '' if e is None else '; object depth L1 %.3f m, %.0f %% finite'
                         % (e['l1_m'], 100 * e['finite_share'])), flush=True)


def _write_eval(args, results: dict, errors: dict, objects: list, positions: list,
                wall_s: float) -> None:
    """Write ``success.md`` and ``success.json`` under ``args.out`` and print the tables."""
    from promptda_sim.depth_error import depth_error_table, summarise
    summary = summarise(errors)
    table = success_table(results, objects, positions) + (
        "\n\nDepth error on the object's pixels (first frame of each episode): mean L1 "
        'against the true depth (share of object pixels with a depth)\n\n'
        + depth_error_table(summary, objects))
    with open(os.path.join(args.out, 'success.md'), 'w', encoding='utf-8') as f:
        f.write(table + '\n')
    with open(os.path.join(args.out, 'success.json'), 'w', encoding='utf-8') as f:
        json.dump({'policy': args.policy, 'episodes_per_cell': args.episodes,
                   'timeout_s': args.timeout_s, 'results': results,
                   'object_depth': summary, 'object_depth_episodes': errors,
                   'wall_s': wall_s}, f, indent=1)
    print(table)
    print('wrote %s/success.md, success.json, episode_strip.png' % args.out)


def main(argv: list[str] | None = None) -> int:
    """Console entry point of ``promptda-sim-eval``."""
    from promptda_ros.ros.node_kit import split_ros_args
    from promptda_sim.scene import OBJECTS, POSITIONS
    argv = list(sys.argv[1:] if argv is None else argv)
    argv, ros_args = split_ros_args(argv)
    args = _eval_parser().parse_args(argv)

    def work(session: _Session) -> None:
        objects = _lists(args.objects, OBJECTS, 'object')
        positions = _lists(args.positions, POSITIONS, 'position')
        sources = _lists(args.depth_sources, DEPTH_SOURCES, 'depth source')
        if args.checkpoint and 'promptda' not in sources:
            sources.append('promptda')
        if 'promptda' in sources and not args.checkpoint:
            raise InputError('depth source promptda needs --checkpoint')
        if not os.path.isdir(args.policy):
            raise InputError('policy checkpoint directory %s does not exist' % args.policy)
        check_policy_joints(args.policy)
        from promptda_sim.render import make_renderer  # noqa: F401  (rendering check)
        writable_folder(args.out, '--out')
        results: dict = {}
        errors: dict = {}
        strip_path: str | None = os.path.join(args.out, 'episode_strip.png')
        t0 = time.monotonic()
        for source in sources:
            graph = session.graph(depth_source=source, policy_path=args.policy,
                                  checkpoint=args.checkpoint,
                                  real_time_factor=args.real_time_factor,
                                  depth_hw=policy_depth_hw(args.policy),
                                  input_size=args.input_size)
            try:
                _score_source(graph, source, args, objects, positions, results, errors,
                              strip_path)
                strip_path = None
            finally:
                session.close_graph(graph)
        _write_eval(args, results, errors, objects, positions, time.monotonic() - t0)
    return _run_graph_cli('promptda-sim-eval', ros_args, work, 'no success table was written')


def _save_png(path: str, rgb: np.ndarray) -> None:
    import cv2
    if not cv2.imwrite(path, np.ascontiguousarray(rgb[:, :, ::-1])):
        raise PromptDAError('cannot write %s' % path)


if __name__ == '__main__':
    sys.exit(main())
