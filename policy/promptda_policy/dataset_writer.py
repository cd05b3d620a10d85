# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Demonstration writer: depth + joint state + commanded action -> LeRobotDataset (no ROS).

Depth is stored losslessly as float32 metres (raw TIFF frames, feature flagged
``is_depth_map``), invalid pixels as 0.0. State and action are float32 radians in the order of
the arm profile's joint names.
"""

import os

import numpy as np

from promptda_ros.core.errors import InputError

from . import ACTION_FEATURE, DEPTH_FEATURE, STATE_FEATURE
from .lerobot_adapter import LeRobotDataset


def dataset_features(height: int, width: int, joint_names: tuple) -> dict:
    """Return the LeRobotDataset feature spec of a depth demo dataset.

    Args:
        height: depth image rows H.
        width: depth image columns W.
        joint_names: J joint names (order of state and action vectors).
    """
    if height < 1 or width < 1:
        raise InputError('depth size must be positive, got %dx%d' % (height, width))
    if not joint_names:
        raise InputError('joint_names is empty')
    names = list(joint_names)
    return {
        DEPTH_FEATURE: {'dtype': 'image', 'shape': (int(height), int(width), 1),
                        'names': ['height', 'width', 'channels'],
                        'info': {'is_depth_map': True, 'depth_unit': 'm'}},
        STATE_FEATURE: {'dtype': 'float32', 'shape': (len(names),), 'names': names},
        ACTION_FEATURE: {'dtype': 'float32', 'shape': (len(names),), 'names': names},
    }


def clean_depth(depth_m: np.ndarray) -> np.ndarray:
    """Return depth as stored: (H, W, 1) float32 metres, NaN / Inf / negative -> 0.0.

    Args:
        depth_m: (H, W) or (H, W, 1) depth in metres.
    """
    d = np.asarray(depth_m, dtype=np.float32)
    if d.ndim == 3 and d.shape[2] == 1:
        d = d[:, :, 0]
    if d.ndim != 2:
        raise InputError('depth must be (H, W) metres, got shape %s' % (d.shape,))
    d = np.where(np.isfinite(d) & (d > 0), d, np.float32(0.0)).astype(np.float32)
    return d[:, :, None]


class EpisodeWriter:
    """Append frames to a LeRobotDataset, one episode per start/stop.

    Args:
        root: dataset directory (created; must not exist yet).
        repo_id: dataset name stored in the metadata (nothing is uploaded).
        fps: recording rate (Hz).
        height, width: depth size (pixels).
        joint_names: J joint names.
        robot_type: free text stored in the metadata.
        image_writer_threads: threads writing depth frames asynchronously.
    """

    def __init__(self, root: str, repo_id: str, fps: int, height: int, width: int,
                 joint_names: tuple, robot_type: str = 'unitree_h1',
                 image_writer_threads: int = 2):
        if int(fps) != fps or fps <= 0:
            raise InputError('fps must be a positive integer, got %r' % (fps,))
        if os.path.exists(root):
            raise InputError('dataset directory %s already exists; choose a new one' % root)
        self.joint_names = tuple(joint_names)
        self.shape = (int(height), int(width))
        self.dataset = LeRobotDataset.create(
            repo_id=repo_id, fps=int(fps), root=root, robot_type=robot_type,
            features=dataset_features(height, width, self.joint_names), use_videos=False,
            image_writer_threads=image_writer_threads)
        self.recording = False
        self.frames_in_episode = 0
        self.episodes_saved = 0
        self.task = ''

    def start(self, task: str) -> None:
        """Begin an episode with a task string (e.g. 'grasp the cup')."""
        if self.recording:
            raise InputError('an episode is already being recorded')
        if not task:
            raise InputError('task string is empty')
        self.task = task
        self.recording = True
        self.frames_in_episode = 0

    def add(self, depth_m: np.ndarray, state: np.ndarray, action: np.ndarray) -> None:
        """Append one frame to the current episode.

        Args:
            depth_m: (H, W) float32 metres (NaN / 0 = invalid).
            state: (J,) rad measured joint positions.
            action: (J,) rad commanded joint positions.
        """
        if not self.recording:
            raise InputError('no episode started')
        d = clean_depth(depth_m)
        if d.shape[:2] != self.shape:
            raise InputError('depth is %dx%d, the dataset records %dx%d'
                             % (d.shape[0], d.shape[1], self.shape[0], self.shape[1]))
        j = len(self.joint_names)
        s = np.asarray(state, dtype=np.float32).reshape(-1)
        a = np.asarray(action, dtype=np.float32).reshape(-1)
        if s.size != j or a.size != j:
            raise InputError('state has %d and action %d values; expected %d joints'
                             % (s.size, a.size, j))
        if not (np.all(np.isfinite(s)) and np.all(np.isfinite(a))):
            raise InputError('non-finite joint state or action')
        self.dataset.add_frame({DEPTH_FEATURE: d, STATE_FEATURE: s, ACTION_FEATURE: a,
                                'task': self.task})
        self.frames_in_episode += 1

    def stop(self, min_frames: int = 2) -> int:
        """End the episode; save it when it has at least ``min_frames`` frames.

        Returns:
            The number of frames saved (0 when the episode was discarded).
        """
        if not self.recording:
            raise InputError('no episode started')
        self.recording = False
        n = self.frames_in_episode
        if n < min_frames:
            if n:
                self.dataset.clear_episode_buffer()
            return 0
        self.dataset.save_episode()
        self.episodes_saved += 1
        return n

    def close(self) -> None:
        """Discard an unfinished episode and finalise the dataset files."""
        if self.recording:
            self.recording = False
            if self.frames_in_episode:
                self.dataset.clear_episode_buffer()
        self.dataset.finalize()
