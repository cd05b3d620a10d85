# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Shared helpers of the model tests: deterministic PromptDA weights and cached checkpoints.

The weight rule is the one documented with the conformance vectors (test/data/model/README.md),
implemented in :mod:`promptda_ros.model.conformance`: every tensor is generated from its
checkpoint key and shape alone, so the reference outputs of the official code can be reproduced
by any loader that maps the official keys correctly.
"""

import json
import os

import torch

from promptda_ros.model import conformance

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data', 'model')
ARKIT = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data', 'arkit_example')

_CACHE = {}


def manifest_path(encoder):
    return conformance.manifest_path(encoder, DATA)


def case_path(name):
    return conformance.case_path(name, DATA)


def load_case(name):
    return conformance.load_case(name, DATA)


def manifest(encoder):
    """The ``[key, shape]`` list of the official checkpoint of ``encoder``."""
    with open(manifest_path(encoder), encoding='utf-8') as f:
        return json.load(f)['tensors']


def deterministic_state_dict(encoder):
    """Official-format state dict (``pipeline.`` keys) of the conformance weights, as torch."""
    return conformance.conformance_state_dict(encoder, DATA)


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
    return conformance.case_inputs(case)
