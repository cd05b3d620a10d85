# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Depth backend 'starrygazer': relative depth refined with the sparse prompt (no ground truth).

The backend runs a relative-depth *network* on every image (a live node has no relative-depth
files, and the node subscribes to no relative-depth topic): ``relative_source`` is
``'promptda_noprompt'`` (the PromptDA network of ``relative_checkpoint`` run without a prompt)
or ``'depth_anything_v2'`` (Depth Anything V2 weights in ``relative_checkpoint``).  The
refinement network (``checkpoint``, written by ``promptda-adapt``) then turns that relative map
and the sparse LiDAR prompt into metric depth (:class:`promptda_ros.adapt.refine.StarryGazer`).
Bags that carry a relative-depth topic are served by ``promptda-eval --methods starrygazer``.

Imported lazily by the backend registry, so torch loads only when this backend is asked for.
"""

from types import SimpleNamespace

import numpy as np

from promptda_ros.core.errors import CheckpointError, InputError

NAME = 'starrygazer'
NETWORK_SOURCES = ('promptda_noprompt', 'depth_anything_v2')
_OPTIONS = ('checkpoint', 'relative_source', 'relative_checkpoint', 'device', 'input_size',
            'min_depth', 'max_depth')


class StarryGazerBackend:
    """``predict(rgb, prompt_m, camera=None) -> (H, W) float32 metres`` (NaN = invalid)."""

    name = NAME
    needs_sparse_prompt = True  # the refinement wants measured cells only, not a filled grid

    def __init__(self, refiner, source, min_depth: float = 0.0,
                 max_depth: float = float('inf')) -> None:
        self.refiner = refiner
        self.source = source
        self.min_depth = float(min_depth)
        self.max_depth = float(max_depth)

    def predict(self, rgb: np.ndarray, prompt_m: np.ndarray, camera=None) -> np.ndarray:
        """Predict depth.

        Args:
            rgb: (H, W, 3) uint8 RGB.
            prompt_m: (h, w) float32 metres, 0 = no measurement.
            camera: PinholeCamera of ``rgb`` or None; when given, its size must match the image.

        Returns:
            (H, W) float32 metres, NaN outside (min_depth, max_depth].
        """
        from promptda_ros.adapt.relative import relative_for
        from promptda_ros.backends._common import check_inputs, mask_range

        image, prompt = check_inputs(NAME, rgb, prompt_m, camera)
        frame = SimpleNamespace(rgb=image, prompt_m=prompt, camera=camera, name='live',
                                index=0, relative=None)
        rel = relative_for(self.source, frame)
        depth = self.refiner.predict_with_relative(image, prompt, rel, self.source.space)
        return mask_range(depth, self.min_depth, self.max_depth)


def make_starrygazer_backend(**options) -> StarryGazerBackend:
    """Build the 'starrygazer' backend.

    Options: ``checkpoint`` (refinement weights, required), ``relative_source``
    ('promptda_noprompt' or 'depth_anything_v2', required), ``relative_checkpoint`` (weights of
    that network, required), ``device`` ('cpu' / 'cuda'), ``input_size`` (PromptDA network input
    (h, w) for 'promptda_noprompt'), ``min_depth`` / ``max_depth`` (metres, output range).

    Raises:
        InputError: unknown option, or no relative source configured.
        CheckpointError: missing or unloadable weights (refinement weights of another config
            or not refinement weights at all).
    """
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise InputError('unknown starrygazer backend options: %s (known: %s)'
                         % (', '.join(unknown), ', '.join(_OPTIONS)))
    weights = options.get('checkpoint')
    if not weights:
        raise CheckpointError("backend 'starrygazer' needs its refinement weights: "
                              'checkpoint=PATH (written by promptda-adapt)')
    kind = options.get('relative_source') or ''
    if kind not in NETWORK_SOURCES:
        raise InputError("backend 'starrygazer' has no relative source configured: set "
                         "relative_source to 'promptda_noprompt' or 'depth_anything_v2' and "
                         'relative_checkpoint to its weights' if not kind else
                         f"backend 'starrygazer': relative_source must be one of "
                         f"{', '.join(NETWORK_SOURCES)}, got '{kind}'")
    rel_ckpt = options.get('relative_checkpoint') or ''
    if not rel_ckpt:
        raise CheckpointError(f"backend 'starrygazer': relative_source {kind} needs "
                              'relative_checkpoint (its network weights)')
    from promptda_ros.adapt.refine import StarryGazer
    from promptda_ros.adapt.relative import make_relative_source
    from promptda_ros.backends._common import check_options

    device = options.get('device') or 'cpu'
    lo, hi = check_options(NAME, options.get('min_depth', 0.0),
                           options.get('max_depth', float('inf')))
    refiner = StarryGazer(weights, device=device)
    source = make_relative_source(kind, checkpoint=rel_ckpt, device=device,
                                  input_size=options.get('input_size'))
    return StarryGazerBackend(refiner, source, lo, hi)
