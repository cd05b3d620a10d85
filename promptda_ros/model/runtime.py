# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""DepthEstimator: the Python API of the PromptDA network (used by the CLI, backend and node).

    est = DepthEstimator('model.ckpt', device='cpu')          # loads, checks, warms up
    depth_m = est.predict(rgb, prompt_m)                     # (H, W) float32 metres, NaN invalid

Inference runs under ``torch.inference_mode``; with precision fp16 (CUDA) / bf16 under autocast,
which the network applies to its ViT blocks only (see :mod:`promptda_ros.model.hf_adapter`); the
output is returned as float32. ``precision='auto'`` picks fp16 on CUDA and fp32 on the CPU
(:func:`resolve_precision`). Image staging buffers are reused across frames.
"""

import time

import numpy as np
import torch

from promptda_ros.core.errors import InputError, PromptDAError
from promptda_ros.model.processing import (
    ImageNormaliser,
    network_input_size,
    postprocess_depth,
    prepare_prompt,
    ProcessingConfig,
    prompt_to_tensor,
)

PRECISIONS = {'fp32': torch.float32, 'fp16': torch.float16, 'bf16': torch.bfloat16}
PRECISION_CHOICES = ('auto',) + tuple(PRECISIONS)
# What 'auto' means per device type. CPU: fp32, because bf16 is only faster where the CPU has
# bf16 instructions (avx512_bf16 / AMX; elsewhere autocast to bf16 is slower than fp32) and it is
# a few mm off fp32; it is a choice to make per machine (bench/bench_network.py measures both).
AUTO_PRECISION = {'cuda': 'fp16', 'cpu': 'fp32'}


class DeviceError(PromptDAError):
    """The requested device or precision is not available on this machine."""


def resolve_precision(precision: str, device: torch.device) -> str:
    """Return the precision ('fp32' / 'fp16' / 'bf16') that ``precision`` names on ``device``.

    'auto' becomes :data:`AUTO_PRECISION` of the device type; the others are returned as given
    (:func:`resolve_device` checks that the device supports them).
    """
    if precision == 'auto':
        return AUTO_PRECISION[torch.device(device).type]
    return precision


def resolve_device(device: str, precision: str = 'fp32') -> torch.device:
    """Check ``device`` / ``precision`` and return the torch device; DeviceError if unusable."""
    if precision not in PRECISION_CHOICES:
        raise DeviceError('precision must be one of %s, got %r'
                          % (', '.join(PRECISION_CHOICES), precision))
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise DeviceError("device must be 'cpu' or 'cuda[:N]', got %r" % (device,)) from None
    if dev.type == 'cuda':
        if not torch.cuda.is_available():
            raise DeviceError("device %r requested but CUDA is not available (torch %s, %s); "
                              "use device='cpu'" % (device, torch.__version__,
                                                    'built without CUDA'
                                                    if torch.version.cuda is None
                                                    else 'no GPU visible'))
    elif dev.type != 'cpu':
        raise DeviceError("device must be 'cpu' or 'cuda[:N]', got %r" % (device,))
    elif precision == 'fp16':
        raise DeviceError("precision fp16 needs device='cuda'; use fp32 or bf16 on the CPU")
    return dev


class DepthEstimator:
    """PromptDA depth from an RGB image and a metric depth prompt."""

    def __init__(self, checkpoint, encoder: str | None = None, device: str = 'cpu',
                 precision: str = 'auto', input_size=None, compile: bool = False,
                 warmup: int = 1, processing: ProcessingConfig | None = None):
        """Load the network.

        Args:
            checkpoint: path (official model.ckpt, -hf directory or .safetensors), or a
                :class:`~promptda_ros.model.hf_adapter.PromptDANetwork` already loaded.
            encoder: 'vits' / 'vitb' / 'vitl' to insist on; None = infer from the weights.
            device: 'cpu' or 'cuda[:N]'.
            precision: 'fp32', 'fp16' (cuda only), 'bf16' (autocast of the ViT blocks) or
                'auto' (fp16 on CUDA, fp32 on the CPU; the choice is left in ``precision``).
            input_size: network input (h, w) multiples of 14, 'native', or None (long side 504).
            compile: wrap the network in ``torch.compile``.
            warmup: number of warm-up forwards at the default input size.
            processing: further :class:`ProcessingConfig` settings (``input_size`` overrides it).

        Raises:
            CheckpointError: missing / unsafe / wrong-architecture checkpoint.
            DeviceError: unavailable device or precision.
        """
        from promptda_ros.model.checkpoint import load_network
        from promptda_ros.model.hf_adapter import PromptDANetwork
        self.device = resolve_device(device, precision)
        self.precision = resolve_precision(precision, self.device)
        config = processing or ProcessingConfig()
        if input_size is not None:
            config = ProcessingConfig(**{**config.__dict__, 'input_size': input_size})
        self.config = config
        if isinstance(checkpoint, PromptDANetwork):
            network = checkpoint
        else:
            network = load_network(checkpoint, encoder=encoder, device='cpu')
        self.network = network.to(self.device).eval()
        self.spec = self.network.spec
        self._forward = self.network
        if compile:
            self._forward = torch.compile(self.network)
        self._normalise = ImageNormaliser(self.device, resample=config.resample)
        self.last_timings: dict[str, float] = {}
        for _ in range(int(warmup)):
            self._warmup()

    def _autocast(self):
        if self.precision == 'fp32':
            return torch.autocast(self.device.type, enabled=False)
        # No cast cache: a forward uses each weight once, so it would save nothing, and PyTorch
        # advises against it in CUDA-graph captures (bench/device_check.py replays one).
        return torch.autocast(self.device.type, dtype=PRECISIONS[self.precision],
                              cache_enabled=False)

    def _warmup(self) -> None:
        size = self.config.input_size
        if size in (None, 'native'):
            size = network_input_size((480, 640), None, self.config.long_side)
        rgb = torch.zeros((1, 3) + tuple(size), device=self.device)
        prompt = torch.linspace(1.0, 2.0, 48 * 64, device=self.device).view(1, 1, 48, 64)
        with torch.inference_mode(), self._autocast():
            self._forward(rgb, prompt)
        self._sync()

    def _sync(self) -> None:
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)

    def infer(self, pixel_values: torch.Tensor, prompt_m: torch.Tensor) -> torch.Tensor:
        """Run the network on tensors already on the device, in the estimator's precision.

        Args:
            pixel_values: (B, 3, H, W) float, ImageNet-normalised RGB, H and W multiples of 14.
            prompt_m: (B, 1, h, w) float metres, dense.

        Returns:
            (B, H, W) float32 metres (no clamp, no resize); asynchronous on CUDA.
        """
        with torch.inference_mode(), self._autocast():
            return self._forward(pixel_values, prompt_m).float()

    def input_size_for(self, image_hw: tuple) -> tuple:
        """Network input (h, w) used for an image of (H, W) pixels."""
        return network_input_size(image_hw, self.config.input_size, self.config.long_side)

    def predict(self, rgb: np.ndarray, prompt_m: np.ndarray, encoding: str = 'rgb8') -> np.ndarray:
        """Predict metric depth.

        Args:
            rgb: (H, W, 3) uint8 image, channel order named by ``encoding`` ('rgb8' / 'bgr8').
            prompt_m: (h, w) float32 metres, 0 = no measurement (any resolution).
            encoding: colour encoding of ``rgb``.

        Returns:
            (H, W) float32 metres (or the configured output size), NaN = invalid.
            Per-stage times of the call (ms) are left in ``last_timings``.

        Raises:
            InputError: malformed image. PromptError: unusable prompt.
        """
        t0 = time.perf_counter()
        image = np.asarray(rgb)
        if image.ndim != 3:
            raise InputError('image must be (H, W, 3), got shape %s' % (image.shape,))
        size = self.input_size_for(image.shape[:2])
        filled, _ = prepare_prompt(prompt_m, self.config.fill, self.config.min_valid_fraction,
                                   self.config.min_valid)
        with torch.inference_mode():
            x = self._normalise(image, size, encoding)
            prompt = prompt_to_tensor(filled, self.device)
            self._sync()
            t1 = time.perf_counter()
            depth = self.infer(x, prompt)
            self._sync()
            t2 = time.perf_counter()
            out_hw = self.config.output_size or image.shape[:2]
            result = postprocess_depth(depth, out_hw, self.config.min_depth,
                                       self.config.max_depth)
        t3 = time.perf_counter()
        self.last_timings = {'pre': 1e3 * (t1 - t0), 'network': 1e3 * (t2 - t1),
                             'post': 1e3 * (t3 - t2)}
        return result
