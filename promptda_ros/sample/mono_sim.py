# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""A simulated monocular depth model for the bundled sample: ground truth distorted on purpose.

No monocular weights can be downloaded for the sample, so ``/camera/relative_depth`` is made
from the ground-truth depth with the errors such models make (documented in docs/sample.md).
Starting from the z-depth ``d`` (metres) and the object id of every pixel:

1. **per-object scale and offset** -- object ``o`` gets a depth scale ``s_o = exp(N(0, 0.12))``
   clipped to [0.75, 1.3] and an offset ``b_o ~ U(-0.12, 0.12)`` m, drawn once per sequence
   (a monocular model is consistently wrong about an object), times a per-frame jitter
   ``exp(N(0, 0.02))``: ``d1 = s_o d + b_o``, clipped to >= 0.05 m.  No single affine map of
   the whole image can undo this: it is the error *between* objects;
2. **smooth low-frequency warp** -- ``d2 = d1 exp(0.06 F)``, ``F`` a bicubic upsampling of a
   3 x 4 grid of ``U(-1, 1)`` values (new per frame);
3. **unknown affine map in inverse depth** -- ``r = a / d2 + c`` with ``a ~ U(0.3, 3)`` m and
   ``c ~ U(0, 0.5)`` per frame: relative disparity as Depth Anything outputs it (larger = nearer);
4. **blurred edges** -- a Gaussian blur of ``r`` with sigma 1 px per 640 px of image width
   (mixes depth across object boundaries as network decoders do);
5. **noise** -- multiplicative Gaussian noise, sigma 0.3 %.

Everything is seeded: the per-object errors by ``(seed, 0x4E1A)``, the rest by
``(seed, 1 + frame index, 0x4E1A)``, so the topic is bit-identical per seed and independent of
the other sensors' random streams.
"""

import numpy as np

OBJECT_SCALE_SIGMA = 0.12
OBJECT_SCALE_RANGE = (0.75, 1.3)
OBJECT_OFFSET_M = 0.12
FRAME_JITTER_SIGMA = 0.02
WARP_AMPLITUDE = 0.06
WARP_GRID = (3, 4)
AFFINE_A_RANGE = (0.3, 3.0)
AFFINE_C_RANGE = (0.0, 0.5)
BLUR_SIGMA_PX_AT_640 = 1.0
NOISE_SIGMA = 0.003
STREAM = 0x4E1A


def object_errors(seed: int, num_objects: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the per-sequence (scale (O,), offset (O,) metres) of every object id."""
    rng = np.random.default_rng([int(seed), STREAM])
    scale = np.clip(np.exp(rng.normal(0.0, OBJECT_SCALE_SIGMA, num_objects)),
                    *OBJECT_SCALE_RANGE)
    offset = rng.uniform(-OBJECT_OFFSET_M, OBJECT_OFFSET_M, num_objects)
    return scale, offset


def simulate_relative(depth_m: np.ndarray, object_id: np.ndarray, scale: np.ndarray,
                      offset: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Turn ground-truth depth into a simulated monocular relative-disparity map.

    Args:
        depth_m: (H, W) float32 metres, ground-truth z-depth (dense, > 0).
        object_id: (H, W) int object id of every pixel, indexing ``scale`` / ``offset``.
        scale: (O,) per-object depth scale; offset: (O,) per-object offset, metres.
        rng: generator of the per-frame jitter, warp, affine map and noise.

    Returns:
        (H, W) float32 relative disparity (unitless, larger = nearer, > 0).
    """
    import cv2

    h, w = depth_m.shape
    jitter = np.exp(rng.normal(0.0, FRAME_JITTER_SIGMA, scale.shape[0]))
    d = np.asarray(depth_m, np.float64) * (scale * jitter)[object_id] + offset[object_id]
    d = np.maximum(d, 0.05)
    grid = rng.uniform(-1.0, 1.0, WARP_GRID)
    warp = cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
    d = d * np.exp(WARP_AMPLITUDE * warp)
    a = rng.uniform(*AFFINE_A_RANGE)
    c = rng.uniform(*AFFINE_C_RANGE)
    rel = a / d + c
    sigma = BLUR_SIGMA_PX_AT_640 * w / 640.0
    rel = cv2.GaussianBlur(rel, (0, 0), sigmaX=sigma, sigmaY=sigma,
                           borderType=cv2.BORDER_REFLECT)
    rel = rel * (1.0 + rng.normal(0.0, NOISE_SIGMA, rel.shape))
    return np.maximum(rel, 1e-6).astype(np.float32)
