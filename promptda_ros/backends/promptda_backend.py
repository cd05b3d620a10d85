# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Depth backend 'promptda': the PromptDA network behind the project's backend interface.

Imported lazily by the backend registry, so torch / transformers load only when this backend is
asked for.
"""

import numpy as np

from promptda_ros.core.errors import CheckpointError, InputError

NAME = 'promptda'
_OPTIONS = ('checkpoint', 'encoder', 'device', 'precision', 'input_size', 'long_side',
            'output_size', 'min_depth', 'max_depth', 'fill', 'min_valid_fraction', 'min_valid',
            'resample', 'compile', 'warmup')


class PromptDABackend:
    """PromptDA depth: ``predict(rgb, prompt_m, camera=None) -> (H, W) float32 metres``."""

    name = NAME

    def __init__(self, estimator):
        self.estimator = estimator

    def predict(self, rgb: np.ndarray, prompt_m: np.ndarray, camera=None) -> np.ndarray:
        """Predict depth.

        Args:
            rgb: (H, W, 3) uint8 RGB.
            prompt_m: (h, w) float32 metres, 0 = no measurement.
            camera: PinholeCamera of ``rgb`` or None; when given, its size must match the image.

        Returns:
            (H, W) float32 metres (or the configured output size), NaN = invalid.
        """
        image = np.asarray(rgb)
        if camera is not None and image.ndim == 3 and \
                (camera.height, camera.width) != image.shape[:2]:
            raise InputError('camera is %dx%d but the image is %dx%d'
                             % (camera.width, camera.height, image.shape[1], image.shape[0]))
        return self.estimator.predict(image, prompt_m, encoding='rgb8')


def make_promptda_backend(**options) -> PromptDABackend:
    """Build the 'promptda' backend.

    Options: ``checkpoint`` (path, required), ``encoder`` ('vits' / 'vitb' / 'vitl' or None),
    ``device`` ('cpu' / 'cuda'), ``precision`` ('auto' / 'fp32' / 'fp16' / 'bf16'), ``input_size``
    ((h, w) multiples of 14, 'native' or None = long side 504), and the processing settings
    ``long_side``, ``output_size``, ``min_depth``, ``max_depth``, ``fill``,
    ``min_valid_fraction``, ``min_valid``, ``resample``, plus ``compile`` and ``warmup``.

    Raises:
        CheckpointError: no checkpoint given, or it cannot be loaded.
        InputError: unknown option.
    """
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise InputError('unknown promptda backend options: %s (known: %s)'
                         % (', '.join(unknown), ', '.join(_OPTIONS)))
    checkpoint = options.get('checkpoint')
    if not checkpoint:
        raise CheckpointError("backend 'promptda' needs a checkpoint: pass checkpoint=PATH "
                              '(official model.ckpt, -hf directory or .safetensors)')
    from promptda_ros.model.processing import ProcessingConfig
    from promptda_ros.model.runtime import DepthEstimator
    proc_keys = ('input_size', 'long_side', 'output_size', 'min_depth', 'max_depth', 'fill',
                 'min_valid_fraction', 'min_valid', 'resample')
    processing = ProcessingConfig(**{k: options[k] for k in proc_keys
                                     if options.get(k) is not None})
    estimator = DepthEstimator(checkpoint, encoder=options.get('encoder') or None,
                               device=options.get('device') or 'cpu',
                               precision=options.get('precision') or 'auto',
                               compile=bool(options.get('compile', False)),
                               warmup=int(options.get('warmup', 1)), processing=processing)
    return PromptDABackend(estimator)
