# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""The conformance-vector weights: PromptDA networks made from a key manifest, no download.

The conformance vectors (``test/data/model``, see its README) hold the official checkpoint's
key / shape manifest of each encoder and cases computed by the official code with weights that
are a function of the key and shape alone. This module owns that rule, so the tests and the
benchmarks build exactly the network the vectors were computed with::

    z = numpy.random.Generator(PCG64(zlib.crc32(key))).standard_normal(shape)
    *_mean / *_std -> ImageNet mean / std;  *.gamma -> 0.1 + 0.01 z;  1-D *weight -> 1 + 0.1 z;
    *bias -> 0.02 z;  N-D *weight -> z / sqrt(prod(shape[1:]));  anything else -> 0.02 z

The weights are not trained: the depth they give is meaningless, but the arithmetic (and so the
speed and the numerical error of a precision mode) is that of the real network.
"""

import json
import math
import os
import zlib

import numpy as np
import torch

from promptda_ros.model.config import IMAGENET_MEAN, IMAGENET_STD

VECTORS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), 'test', 'data', 'model')
"""The conformance vectors of a source checkout (not part of an installed package)."""


def manifest_path(encoder: str, vectors_dir: str = VECTORS_DIR) -> str:
    """Return the path of the key manifest of ``encoder`` ('vits' / 'vitb' / 'vitl')."""
    return os.path.join(vectors_dir, 'promptda_%s_manifest.json' % encoder)


def case_path(name: str, vectors_dir: str = VECTORS_DIR) -> str:
    """Return the path of case ``name`` (e.g. 'vits_case0')."""
    return os.path.join(vectors_dir, 'promptda_%s.npz' % name)


def case_names(encoder: str, vectors_dir: str = VECTORS_DIR) -> list:
    """Return the names of the cases of ``encoder`` present in ``vectors_dir``, sorted."""
    prefix = 'promptda_%s_' % encoder
    return sorted(f[len('promptda_'):-len('.npz')] for f in os.listdir(vectors_dir)
                  if f.startswith(prefix) and f.endswith('.npz'))


def load_case(name: str, vectors_dir: str = VECTORS_DIR) -> dict:
    """Return the arrays of a case.

    Returns:
        ``image_rgb_uint8`` (H, W, 3) uint8 RGB, ``prompt_depth_m`` (h, w) float32 metres and
        ``expected_depth_m`` (H, W) float32 metres (the official output).
    """
    with np.load(case_path(name, vectors_dir)) as data:
        return {k: data[k] for k in data.files}


def case_inputs(case: dict) -> tuple:
    """Return (pixel_values (1, 3, H, W) ImageNet-normalised, prompt (1, 1, h, w) metres)."""
    image = torch.from_numpy(case['image_rgb_uint8']).permute(2, 0, 1)[None].float() / 255.0
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (image - mean) / std, torch.from_numpy(case['prompt_depth_m'])[None, None]


def conformance_tensor(key: str, shape) -> np.ndarray:
    """Return the float32 tensor of checkpoint key ``key`` (rule in the module docstring)."""
    shape = tuple(int(s) for s in shape)
    z = np.random.Generator(np.random.PCG64(zlib.crc32(key.encode()))).standard_normal(shape)
    if key.endswith('_mean'):
        values = np.reshape(np.array(IMAGENET_MEAN), shape)
    elif key.endswith('_std'):
        values = np.reshape(np.array(IMAGENET_STD), shape)
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


def conformance_state_dict(encoder: str, vectors_dir: str = VECTORS_DIR) -> dict:
    """Return the official-format state dict (``pipeline.`` keys) of ``encoder``, as torch."""
    with open(manifest_path(encoder, vectors_dir), encoding='utf-8') as f:
        tensors = json.load(f)['tensors']
    return {key: torch.from_numpy(conformance_tensor(key, shape)) for key, shape in tensors}


def conformance_network(encoder: str, device: str = 'cpu', vectors_dir: str = VECTORS_DIR):
    """Return the :class:`PromptDANetwork` of ``encoder`` with the conformance weights (eval).

    The state dict goes through the same named converter as an official ``model.ckpt``.
    """
    from promptda_ros.model.checkpoint import (
        infer_encoder,
        network_from_state_dict,
        official_to_hf,
        strip_official_prefix,
    )
    source = manifest_path(encoder, vectors_dir)
    official = strip_official_prefix(conformance_state_dict(encoder, vectors_dir), source)
    spec = infer_encoder(official, source)
    return network_from_state_dict(spec, official_to_hf(official, spec, source), device,
                                   source=source)
