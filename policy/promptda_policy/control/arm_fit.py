# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Whether a policy or a demo dataset fits an arm: joint names, vector sizes and rate (no ROS).

A policy acts on the joints of the dataset it was trained on, in that order, at that dataset's
frame rate. Before a policy runs (policy node, ``promptda-sim-eval``, ``promptda-policy-eval``)
or demos are added to a dataset, its :class:`ArmSignature` is read from its JSON files (no
lerobot import, no weights) and compared with the arm profile or the dataset it meets: the
names must be the same list in the same order, state and action vectors one value per joint,
and the rates equal where both are known. A mismatch raises :class:`InputError` naming both
joint lists.
"""

from dataclasses import dataclass
import json
import os
from typing import Any

from promptda_ros.core.errors import InputError

from .. import ACTION_FEATURE, STATE_FEATURE

RATE_TOLERANCE_HZ = 1e-6


@dataclass(frozen=True)
class ArmSignature:
    """What a policy or a dataset expects of the arm.

    Attributes:
        source: what it describes, for messages (e.g. ``'policy /runs/x/pretrained_model'``).
        joint_names: ordered joint names of the state and action vectors.
        state_dim: values in ``observation.state``.
        action_dim: values in ``action``.
        fps: rate of the frames / actions (Hz), or None when unknown.
    """

    source: str
    joint_names: tuple
    state_dim: int
    action_dim: int
    fps: float | None


def _read_json(path: str, what: str) -> Any:
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except OSError as exc:
        raise InputError('cannot read %s %s: %s' % (what, path, exc.strerror or exc)) from None
    except ValueError as exc:
        raise InputError('%s %s is not valid JSON: %s' % (what, path, exc)) from None


def _dim(features: Any, key: str, path: str) -> int:
    try:
        shape = features[key]['shape']
        if len(shape) != 1 or int(shape[0]) < 1:
            raise ValueError
        return int(shape[0])
    except (KeyError, TypeError, ValueError, IndexError):
        raise InputError('%s has no usable %s feature (a 1-D shape)' % (path, key)) from None


def dataset_signature(root: str) -> ArmSignature:
    """Read the signature of a LeRobotDataset from ``root/meta/info.json``.

    Raises:
        InputError: a missing or malformed info.json, or state / action without joint names.
    """
    path = os.path.join(root, 'meta', 'info.json')
    info = _read_json(path, 'dataset info')
    if not isinstance(info, dict) or not isinstance(info.get('features'), dict):
        raise InputError('%s is not a dataset description (no features object)' % path)
    features = info['features']
    state_dim = _dim(features, STATE_FEATURE, path)
    action_dim = _dim(features, ACTION_FEATURE, path)
    names = features[ACTION_FEATURE].get('names')
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise InputError('%s: the action feature has no joint names' % path)
    try:
        fps = float(info['fps'])
    except (KeyError, TypeError, ValueError):
        fps = None
    return ArmSignature('dataset %s' % root, tuple(names), state_dim, action_dim, fps)


def policy_signature(path: str) -> ArmSignature:
    """Read the signature of a saved ``act_depth`` policy folder (``pretrained_model``).

    The joint names are the config's ``joint_names`` (written at training time); for a policy
    saved without them, the names of its training dataset (``train_config.json`` -> dataset
    root) when that dataset is at hand.

    Raises:
        InputError: no readable config.json, no state or action feature, or no joint names.
    """
    cfg_path = os.path.join(path, 'config.json')
    cfg = _read_json(cfg_path, 'policy config')
    if not isinstance(cfg, dict):
        raise InputError('policy config %s is not a JSON object' % cfg_path)
    state_dim = _dim(cfg.get('input_features'), STATE_FEATURE, cfg_path)
    action_dim = _dim(cfg.get('output_features'), ACTION_FEATURE, cfg_path)
    rate = cfg.get('action_fps')
    try:
        fps = float(rate) if rate is not None else None
    except (TypeError, ValueError):
        fps = None
    names = cfg.get('joint_names') or []
    if not names:
        names = _training_dataset_names(path)
    if not names or not all(isinstance(n, str) for n in names):
        raise InputError('policy %s records no joint names (neither in config.json nor in its '
                         'training dataset): cannot check that it fits the arm' % path)
    return ArmSignature('policy %s' % path, tuple(names), state_dim, action_dim, fps)


def _training_dataset_names(path: str) -> list:
    """Joint names of the dataset a policy was trained on, or [] when it is not at hand."""
    try:
        with open(os.path.join(path, 'train_config.json'), encoding='utf-8') as f:
            root = json.load(f)['dataset']['root']
        return list(dataset_signature(str(root)).joint_names)
    except (OSError, ValueError, KeyError, TypeError):
        return []


def _rate(fps: float | None) -> str:
    return '%g Hz' % fps if fps else 'an unknown rate'


def check_fits(sig: ArmSignature, joint_names: tuple, arm: str,
               fps: float | None = None) -> None:
    """Check that ``sig`` acts on exactly the joints ``joint_names`` (and at ``fps``).

    Args:
        sig: the policy's or dataset's signature.
        joint_names: the arm's joints in state / action order (a profile's ``joint_names`` or
            another signature's).
        arm: what ``joint_names`` belongs to, for the message (e.g. ``"profile 'generic'"``).
        fps: the rate it will run or record at (Hz); None = not checked.

    Raises:
        InputError: names, their order, a vector size or the rate differ; the message gives
            both joint lists.
    """
    names = tuple(joint_names)
    mine = ', '.join(sig.joint_names)
    theirs = ', '.join(names)
    if sig.joint_names != names or sig.state_dim != len(names) or \
            sig.action_dim != len(names):
        raise InputError('%s acts on joints [%s] (state %d, action %d values); %s has [%s]'
                         % (sig.source, mine, sig.state_dim, sig.action_dim, arm, theirs))
    if fps is not None and sig.fps is not None and abs(sig.fps - float(fps)) > RATE_TOLERANCE_HZ:
        raise InputError('%s runs at %s, %s at %s (joints [%s])'
                         % (sig.source, _rate(sig.fps), arm, _rate(fps), theirs))
