# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""The perception node's parameters file, read without ROS, and what offline tools take from it.

:func:`read_params_file` reads a ROS 2 params YAML as the node applies it: the sections ``/**``,
``/**/promptda_perception``, ``/promptda_perception`` and ``promptda_perception`` (later ones
override, as rclpy's wildcard loading does), nested keys flattened with dots
(``qos_overrides./image...``); a file without any of them is refused.
:func:`offline_settings` gives what the replay, the evaluation and the benchmarks need to score
the depth the node publishes: the frame pipeline's configuration and the pairing (``slop_s``,
``lidar_cache_size``).
"""

from dataclasses import dataclass, fields
import os
from typing import Any, Mapping, Optional

import yaml

from promptda_ros.core.errors import InputError
from promptda_ros.pipeline import PipelineConfig

__all__ = ['NODE_NAME', 'read_params_file', 'OfflineSettings', 'offline_settings']

NODE_NAME = 'promptda_perception'


def _flatten(values: Mapping[str, Any], prefix: str = '') -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        name = f'{prefix}{key}'
        if isinstance(value, Mapping):
            out.update(_flatten(value, f'{name}.'))
        else:
            out[name] = value
    return out


def read_params_file(path: str | os.PathLike, node_name: str = NODE_NAME) -> dict[str, Any]:
    """Return ``{name: value}`` of the node's ``ros__parameters`` in a params YAML file.

    Raises:
        InputError: a missing or unreadable file, or no ``ros__parameters`` for the node.
    """
    if not os.path.isfile(path):
        raise InputError(f'params file {path} does not exist')
    try:
        with open(path, 'rb') as stream:
            document = yaml.safe_load(stream.read().decode('utf-8'))
    except (UnicodeDecodeError, yaml.YAMLError) as error:
        reason = str(error).strip().splitlines()[0]
        raise InputError(f'{path}: not a ROS 2 parameters YAML file ({reason})') from None
    if not isinstance(document, Mapping):
        raise InputError(f'{path}: not a ROS 2 parameters YAML file (no node sections)')
    values: dict[str, Any] = {}
    for section in ('/**', f'/**/{node_name}', f'/{node_name}', node_name):
        body = document.get(section)
        if isinstance(body, Mapping) and isinstance(body.get('ros__parameters'), Mapping):
            values.update(_flatten(body['ros__parameters']))
    if not values:
        raise InputError(f'{path}: no {node_name}: ros__parameters: section')
    return values


@dataclass(frozen=True)
class OfflineSettings:
    """What an offline tool takes from the node's parameters.

    Attributes:
        pipeline: the frame pipeline's configuration (prompt grid, fill, depth range, ...).
        slop_s: pairing tolerance, seconds, or None for the reader's default (the node's).
        lidar_cache_size: sweeps / prompt images kept for pairing, or None (the default).
    """

    pipeline: PipelineConfig
    slop_s: Optional[float] = None
    lidar_cache_size: Optional[int] = None

    def pairing(self) -> dict[str, Any]:
        """Return the keyword arguments of :func:`promptda_ros.bagio.read_frames` that are set."""
        return {name: value for name, value in (('slop_s', self.slop_s),
                                                ('lidar_cache_size', self.lidar_cache_size))
                if value is not None}


def offline_settings(values: Mapping[str, Any]) -> OfflineSettings:
    """Return the :class:`OfflineSettings` of node parameters (a params file's values).

    Raises:
        InputError: a pipeline value is invalid (names it).
    """
    names = {field.name for field in fields(PipelineConfig)}
    chosen: dict[str, Any] = {name: tuple(value) if isinstance(value, list) else value
                              for name, value in values.items() if name in names}
    pipeline = PipelineConfig(**chosen)
    slop_s = values.get('slop_s')
    cache = values.get('lidar_cache_size')
    return OfflineSettings(pipeline, None if slop_s is None else float(slop_s),
                           None if cache is None else int(cache))
