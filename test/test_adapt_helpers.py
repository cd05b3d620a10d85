# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Shared helpers of the StarryGazer tests: tiny sample bags and tiny refinement weights."""

import torch

from promptda_ros.backends.starrygazer_net import RefineConfig, RefineNet, save_refiner
from promptda_ros.sample.bag_writer import copy_bag, GT_TOPIC, write_sample_bag
from promptda_ros.sample.scene import SampleConfig

TINY = RefineConfig(base_width=8, levels=3, groups=4, net_long_side=48)
_CACHE = {}


def tiny_sample(tmp_path_factory, seed: int = 3, frames: int = 3, width: int = 64,
                height: int = 48):
    """Path of a small sample bag (cached per session)."""
    key = ('bag', seed, frames, width, height)
    if key not in _CACHE:
        path = tmp_path_factory.mktemp(f'adapt_bag_{seed}') / 'sample'
        _CACHE[key] = write_sample_bag(path, SampleConfig(seed=seed, frames=frames, width=width,
                                                          height=height), progress=False)
    return _CACHE[key]


def without_topics(tmp_path_factory, bag, topics=(GT_TOPIC,)):
    """Copy of ``bag`` without ``topics`` (cached per session)."""
    key = ('copy', str(bag), tuple(topics))
    if key not in _CACHE:
        _CACHE[key] = copy_bag(bag, tmp_path_factory.mktemp('adapt_copy') / 'bag', topics)
    return _CACHE[key]


def tiny_weights(path, config: RefineConfig = TINY, seed: int = 0) -> str:
    """Write refinement weights of ``config`` with a small random (non-zero) head."""
    torch.manual_seed(seed)
    net = RefineNet(config)
    with torch.no_grad():
        net.head.weight.normal_(0.0, 0.05)
        net.head.bias.fill_(0.02)
    return save_refiner(net, str(path))
