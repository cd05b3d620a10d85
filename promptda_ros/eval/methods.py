# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Depth methods evaluated by ``promptda-eval``.

Method names (derived from the tables of :mod:`promptda_ros.backends`: the built-in backends
that need only RGB and the prompt, and the relative sources this CLI has options for):

Backend methods run through the frame pipeline (:mod:`promptda_ros.pipeline`) exactly as the
perception node does: the frame's sparse prompt is range filtered, validated and hole filled with
the same :class:`~promptda_ros.pipeline.PipelineConfig`, and the output outside the depth range is
NaN, so for the same frame, backend and configuration the scored depth is the published depth.
The other methods' outputs follow the same depth-range rule: outside ``[min_depth, max_depth]``
of the configuration they are NaN, as a backend's output is; an alignment that fits a negative
scale (a map in the other ``--relative-space``) is an error of that frame, not a prediction.

* ``default``  - the weights-free RGB-guided completion backend;
* ``bilinear`` - bilinear upsampling of the prompt (the paper's "ARKit depth" row);
* ``promptda`` - the PromptDA network (needs ``--checkpoint``);
* ``ransac_<source>`` / ``lstsq_<source>`` - a relative depth map aligned to the (sparse) prompt
  by RANSAC (PromptDA supp. C.5) or plain least squares
  (:func:`promptda_ros.core.alignment.align_relative_depth`), where ``<source>`` is

  - ``disk``: relative maps read from ``--relative-dir`` (``<frame name>.npy`` or ``.png``, or
    ``<index:06d>.npy|.png`` with the frame's position in the input), in the space given by
    ``--relative-space`` (default ``inverse``, as Depth Anything's relative disparity);
  - ``promptda_noprompt``: the PromptDA network run **without a real prompt**: it gets a constant
    10 m prompt with a single 11 m cell in the top-left corner (the network min/max-normalises
    its prompt, so this is an all-zero prompt with one unit cell; the output, 10 m + 1 m x the
    normalised prediction, is an affine function of the prompt-free prediction and stays clear
    of the backend's output clamp), treated as relative *depth* (``depth`` space).  Needs
    ``--checkpoint``;
  - ``bag``: the relative map the input itself carries (a bag's ``/camera/relative_depth``
    topic, relative disparity; the bundled sample has one), in ``--relative-space``;

  the sources live in :mod:`promptda_ros.backends.relative`;
* ``starrygazer`` - the ``starrygazer`` backend (:mod:`promptda_ros.backends.starrygazer`: the
  LiDAR-only completion refined by a network trained with ``promptda-adapt``, with its
  serve-time guard) run through the frame pipeline like the other backends, on the frame's
  relative map (needs ``--starrygazer WEIGHTS``; its relative source is ``bag`` unless
  ``--starrygazer-relative`` says otherwise).
"""

from __future__ import annotations

import time
from typing import Any, Callable, cast

import numpy as np

from promptda_ros.backends import PROMPT_BACKENDS, WEIGHTS_FREE_BACKENDS
from promptda_ros.backends import RELATIVE_SOURCES as ALL_RELATIVE_SOURCES
from promptda_ros.backends.relative import (
    BagRelative,
    DiskRelative,
    NoPromptRelative,
    relative_for,
)
from promptda_ros.backends.starrygazer import NAME as STARRYGAZER
from promptda_ros.backends.starrygazer import StarryGazerBackend
from promptda_ros.core.alignment import align_relative_depth
from promptda_ros.core.errors import InputError, PromptError
from promptda_ros.eval.dataset import EvalFrame
from promptda_ros.pipeline import DepthPipeline, PipelineConfig, prompt_from_depth, PromptResult

# Both derive from the tables of promptda_ros.backends: the backends that need only RGB and the
# prompt, and the relative sources promptda-eval has options for (no Depth Anything V2 weights).
BACKEND_METHODS = PROMPT_BACKENDS
RELATIVE_SOURCES = tuple(s for s in ALL_RELATIVE_SOURCES if s != 'depth_anything_v2')
ALIGNERS = ('ransac', 'lstsq')


def all_method_names() -> list[str]:
    """Return every method name the evaluator knows."""
    return list(BACKEND_METHODS) + [f'{a}_{s}' for s in RELATIVE_SOURCES for a in ALIGNERS] \
        + [STARRYGAZER]


def parse_method(name: str) -> tuple[str, str | None]:
    """Split a method name into (kind, source): ('backend', None) or ('ransac'|'lstsq', source).

    Raises:
        InputError: unknown method name (the known names are listed).

    """
    if name in BACKEND_METHODS:
        return 'backend', None
    if name == STARRYGAZER:
        return STARRYGAZER, None
    for a in ALIGNERS:
        if name.startswith(a + '_') and name[len(a) + 1:] in RELATIVE_SOURCES:
            return a, name[len(a) + 1:]
    raise InputError(f"unknown method '{name}' (known: {', '.join(all_method_names())})")


def default_methods(checkpoint: str | None, relative_dir: str | None,
                    relative_in_input: bool = False, starrygazer: str | None = None
                    ) -> list[str]:
    """Return every method that can run with the given options.

    ``relative_in_input``: the input carries relative maps (a bag with a relative-depth topic);
    ``starrygazer``: StarryGazer refinement weights.
    """
    names = list(WEIGHTS_FREE_BACKENDS)
    if checkpoint:
        names += ['promptda', 'ransac_promptda_noprompt', 'lstsq_promptda_noprompt']
    if relative_dir:
        names += ['ransac_disk', 'lstsq_disk']
    if relative_in_input:
        names += ['ransac_bag', 'lstsq_bag']
    if starrygazer:
        names += [STARRYGAZER]
    return names


def _starrygazer_source(weights: str | None, source: str, checkpoint: str | None,
                        relative_dir: str | None) -> str:
    """Check the options of the ``starrygazer`` method; return its relative source name."""
    if not weights:
        raise InputError('method starrygazer needs --starrygazer WEIGHTS (refinement weights '
                         'written by promptda-adapt)')
    if source not in RELATIVE_SOURCES:
        raise InputError(f"--starrygazer-relative must be one of {', '.join(RELATIVE_SOURCES)}, "
                         f"got '{source}'")
    if source == 'promptda_noprompt' and not checkpoint:
        raise InputError('starrygazer with relative source promptda_noprompt needs '
                         '--checkpoint (a PromptDA checkpoint)')
    return source


def _check_scale(scale: float, space: str) -> None:
    """Refuse a fitted alignment whose scale is negative.

    In both spaces a larger relative value means a larger target (disparity in ``inverse``
    space, depth in ``depth`` space), so a negative scale means the map is in the other space:
    its aligned output is not depth to score.

    Raises:
        PromptError: naming the scale and the space the map was read in.
    """
    if scale < 0.0:
        read_as = 'disparity (inverse)' if space == 'inverse' else 'depth'
        raise PromptError(f'aligning the relative map to the prompt gave a negative scale '
                          f'({scale:.4g}): wrong --relative-space? (the map was read as '
                          f'{read_as})')


class MethodRunner:
    """Run the selected methods on frames; relative maps are computed once per frame."""

    def __init__(self, names: list[str], checkpoint: str | None = None,
                 encoder: str | None = None, relative_dir: str | None = None,
                 relative_space: str = 'inverse', backend_factory: Callable | None = None,
                 input_size: tuple[int, int] | None = None, starrygazer: str | None = None,
                 starrygazer_relative: str = 'bag', device: str = 'cpu',
                 config: PipelineConfig | None = None) -> None:
        """Create the backends needed by ``names``.

        Args:
            names: method names (see module docstring).
            checkpoint: PromptDA checkpoint path (promptda / *_promptda_noprompt).
            encoder: PromptDA encoder name, None = from the checkpoint.
            relative_dir: folder of relative maps (*_disk).
            relative_space: 'inverse' or 'depth' for the maps in relative_dir.
            backend_factory: make_backend-compatible callable (tests inject one).
            input_size: PromptDA network input (h, w), None = the backend default.
            starrygazer: StarryGazer refinement weights (method ``starrygazer``).
            starrygazer_relative: relative source of ``starrygazer``: 'bag', 'disk' (maps in
                ``relative_dir``) or 'promptda_noprompt' (needs ``checkpoint``).
            device: torch device of the StarryGazer network.
            config: frame pipeline settings of the backend methods (fill, depth range, min
                coverage, output size); None = the perception node's defaults.

        Raises:
            InputError: unknown or duplicate method, or a method whose input is missing.
            CheckpointError: the checkpoint cannot be loaded.

        """
        if not names:
            raise InputError('no method selected')
        if len(set(names)) != len(names):
            raise InputError(f'duplicate method in {names}')
        if relative_space not in ('inverse', 'depth'):
            raise InputError(f"--relative-space must be 'inverse' or 'depth', got "
                             f"'{relative_space}'")
        self.names = list(names)
        self.config = config if config is not None else PipelineConfig()
        self._backends: dict[str, object] = {}
        self._sources: dict[str, Callable[[EvalFrame], np.ndarray]] = {}
        self._plan: dict[str, tuple[str, str | None]] = {}
        for name in names:
            kind, source = parse_method(name)
            self._plan[name] = (kind, source)
            needs_net = name == 'promptda' or source == 'promptda_noprompt'
            if needs_net and not checkpoint:
                raise InputError(f'method {name} needs --checkpoint (a PromptDA checkpoint)')
            if kind == STARRYGAZER:
                source = _starrygazer_source(starrygazer, starrygazer_relative, checkpoint,
                                             relative_dir)
                self._plan[name] = (kind, source)
            if source == 'disk' and not relative_dir:
                raise InputError(f'method {name} needs --relative-dir')
        for name, (kind, source) in self._plan.items():
            if kind == 'backend' or source == 'promptda_noprompt':
                bname = name if kind == 'backend' else 'promptda'
                if bname not in self._backends:
                    if backend_factory is None:
                        from promptda_ros.backends import make_backend as backend_factory
                    opts: dict[str, Any] = {}
                    if bname == 'promptda':
                        opts = {'checkpoint': checkpoint, 'encoder': encoder}
                        if input_size is not None:
                            opts['input_size'] = tuple(input_size)
                    self._backends[bname] = backend_factory(bname, **opts)
            if source == 'disk' and 'disk' not in self._sources:
                self._sources['disk'] = DiskRelative(relative_dir, relative_space)
            if source == 'promptda_noprompt' and source not in self._sources:
                self._sources[source] = NoPromptRelative(self._backends['promptda'])
            if source == 'bag' and source not in self._sources:
                self._sources[source] = BagRelative(relative_space)
            if kind == STARRYGAZER and STARRYGAZER not in self._backends:
                from promptda_ros.backends.starrygazer_refiner import StarryGazer  # torch

                self._backends[STARRYGAZER] = StarryGazerBackend(
                    StarryGazer(starrygazer, device=device), None)

    def _in_range(self, depth_m: np.ndarray) -> np.ndarray:
        """Return (H, W) float32 metres with values outside the configured depth range NaN.

        The rule of :meth:`~promptda_ros.pipeline.DepthPipeline.predict` for backend outputs
        (inclusive bounds), applied to the methods that do not run through a backend.
        """
        depth = np.asarray(depth_m, dtype=np.float32)
        with np.errstate(invalid='ignore'):
            valid = (depth >= self.config.min_depth) & (depth <= self.config.max_depth)
        return np.where(valid, depth, np.float32(np.nan)).astype(np.float32, copy=False)

    def run(self, frame: EvalFrame
            ) -> tuple[dict[str, np.ndarray], dict[str, float], dict[str, str]]:
        """Run every method on one frame.

        A method whose prompt is unusable on this frame (PromptError, e.g. too few valid prompt
        cells to align) yields an all-NaN prediction and an error message instead of stopping
        the run; every other error propagates.

        Returns:
            ({name: (H, W) float32 metres, NaN = invalid}, {name: runtime in milliseconds},
            {name: error message} for failed methods); the runtime of an aligned method
            includes producing its relative map.

        Raises:
            InputError: a method returned a depth map of the wrong size, or a relative map is
                missing / unreadable.

        """
        preds: dict[str, np.ndarray] = {}
        times: dict[str, float] = {}
        errors: dict[str, str] = {}
        rel_cache: dict[str, tuple[np.ndarray, float]] = {}
        prompt: PromptResult | None = None
        prompt_error: PromptError | None = None
        if any(kind in ('backend', STARRYGAZER) for kind, _source in self._plan.values()):
            try:  # once per frame, as the node does before its backend
                prompt = prompt_from_depth(frame.prompt_m, self.config)
            except PromptError as exc:
                prompt_error = exc
        H, W = frame.rgb.shape[:2]
        # The methods that take the prompt as it is get the returns within the depth range (a
        # LiDAR grid keeps returns beyond it, which the backend pipeline marks unsupported).
        with np.errstate(invalid='ignore'):
            ranged = np.where(frame.prompt_m <= self.config.max_depth, frame.prompt_m,
                              np.float32(0.0)).astype(np.float32, copy=False)
        for name, (kind, source) in self._plan.items():
            t0 = time.perf_counter()
            extra = 0.0
            try:
                if kind == 'backend':
                    if prompt is None:
                        raise prompt_error or PromptError('no prompt')
                    depth = DepthPipeline(self._backends[name]).predict(
                        frame.rgb, frame.camera, prompt, self.config).depth_m
                else:
                    if source not in rel_cache:
                        rel = relative_for(self._sources[source], frame)
                        rel_cache[source] = (rel, (time.perf_counter() - t0) * 1e3)
                        t0 = time.perf_counter()
                    rel, extra = rel_cache[source]
                    if kind == STARRYGAZER:
                        if prompt is None:
                            raise prompt_error or PromptError('no prompt')
                        refiner = cast(StarryGazerBackend, self._backends[STARRYGAZER])
                        backend = refiner.with_relative(rel, self._sources[source].space)
                        depth = DepthPipeline(backend).predict(frame.rgb, frame.camera, prompt,
                                                               self.config).depth_m
                    else:
                        space = self._sources[source].space
                        depth, fit = align_relative_depth(rel, ranged, method=kind, space=space)
                        _check_scale(fit.scale, space)
                    depth = self._in_range(depth)
            except PromptError as exc:
                errors[name] = f'{type(exc).__name__}: {exc}'
                depth = np.full((H, W), np.nan, dtype=np.float32)
            times[name] = (time.perf_counter() - t0) * 1e3 + extra
            depth = np.asarray(depth, dtype=np.float32)
            if depth.shape != (H, W):
                raise InputError(f'method {name} returned {depth.shape}, expected {(H, W)}')
            preds[name] = depth
        return preds, times, errors
