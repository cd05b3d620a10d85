# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Shared helpers of the model tests: deterministic PromptDA weights and cached checkpoints.

The weight rule is the one documented with the conformance vectors (test/data/model/README.md):
every tensor is generated from its checkpoint key and shape alone, so the reference outputs of
the official code can be reproduced by any loader that maps the official keys correctly.
"""

import json
import math
import os
import zlib

import numpy as np
import torch

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data', 'model')
ARKIT = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data', 'arkit_example')
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)

_CACHE = {}


def manifest_path(encoder):
    return os.path.join(DATA, 'promptda_%s_manifest.json' % encoder)


def case_path(name):
    return os.path.join(DATA, 'promptda_%s.npz' % name)


def load_case(name):
    with np.load(case_path(name)) as data:
        return {k: data[k] for k in data.files}


def manifest(encoder):
    with open(manifest_path(encoder), encoding='utf-8') as f:
        return json.load(f)['tensors']


def deterministic_tensor(key, shape):
    """One tensor of the conformance weights: a function of the key string and shape only."""
    shape = tuple(int(s) for s in shape)
    z = np.random.Generator(np.random.PCG64(zlib.crc32(key.encode()))).standard_normal(shape)
    if key.endswith('_mean'):
        values = np.reshape(np.array(MEAN), shape)
    elif key.endswith('_std'):
        values = np.reshape(np.array(STD), shape)
    elif key.endswith('.gamma'):
        values = 0.1 + 0.01 * z
    elif key.endswith('weight') and len(shape) == 1:
        values = 1.0 + 0.1 * z
    elif key.endswith('bias'):
        values = 0.02 * z
    elif key.endswith('weight'):
        values = z / math.sqrt(float(np.prod(shape[1:])))
    else:
        values = 0.02 * z
    return values.astype(np.float32)


def deterministic_state_dict(encoder):
    """Official-format state dict (``pipeline.`` keys) of the conformance weights, as torch."""
    return {key: torch.from_numpy(deterministic_tensor(key, shape))
            for key, shape in manifest(encoder)}


def official_checkpoint(tmp_path_factory, encoder):
    """Path of an official-format model.ckpt with the conformance weights (cached per session)."""
    key = ('official', encoder)
    if key not in _CACHE:
        folder = tmp_path_factory.mktemp('ckpt_%s' % encoder)
        path = str(folder / 'model.ckpt')
        state = deterministic_state_dict(encoder)
        torch.save({'state_dict': state, 'epoch': 0}, path)
        del state
        _CACHE[key] = path
    return _CACHE[key]


def loaded_network(tmp_path_factory, encoder):
    """The PromptDANetwork read from :func:`official_checkpoint` by the project loader (cached)."""
    from promptda_ros.model.checkpoint import load_network
    key = ('network', encoder)
    if key not in _CACHE:
        _CACHE[key] = load_network(official_checkpoint(tmp_path_factory, encoder))
    return _CACHE[key]


def official_forward_inputs(case):
    """Case arrays -> (pixel_values (1,3,H,W) normalised, prompt (1,1,h,w) metres)."""
    image = torch.from_numpy(case['image_rgb_uint8']).permute(2, 0, 1)[None].float() / 255.0
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    prompt = torch.from_numpy(case['prompt_depth_m'])[None, None]
    return (image - mean) / std, prompt
