# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Depth backends: one interface for every way of turning RGB + a prompt grid into metric depth.

A backend is any object with a ``name`` and a
``predict(rgb, prompt_m, camera=None) -> (H, W) float32 metres`` method (see
:class:`DepthBackend`). Built-in names:

``default``
    weights-free RGB-guided completion (:mod:`promptda_ros.backends.default`), no torch needed.
``bilinear``
    hole-filled prompt resized to the image (the paper's "ARKit depth" baseline).
``promptda``
    the PromptDA network (:mod:`promptda_ros.backends.promptda_backend`), imported lazily so
    torch / transformers load only when it is requested.
``starrygazer``
    relative depth from a network refined with the sparse prompt by weights trained without
    ground truth (``promptda-adapt``; :mod:`promptda_ros.backends.starrygazer`), lazily imported.

Backends with the class attribute ``needs_sparse_prompt = True`` want the unfilled projection
(0 = no measurement); the others may be handed a hole-filled prompt.
"""

import importlib
from typing import Callable, Dict, List, Optional, Protocol, runtime_checkable, Union

import numpy as np

from promptda_ros.core.errors import InputError

__all__ = ['DepthBackend', 'register_backend', 'available_backends', 'make_backend',
           'needs_sparse_prompt']


@runtime_checkable
class DepthBackend(Protocol):
    """Interface every depth backend implements."""

    name: str

    def predict(self, rgb: np.ndarray, prompt_m: np.ndarray, camera=None) -> np.ndarray:
        """Predict metric depth.

        Args:
            rgb: (H, W, 3) uint8 RGB.
            prompt_m: (h, w) float32 metres, 0 = no measurement.
            camera: PinholeCamera of ``rgb`` or None.

        Returns:
            (H, W) float32 metres, NaN = invalid.
        """


# name -> factory(**options) or 'module:function' resolved on first use.
_REGISTRY: Dict[str, Union[str, Callable[..., DepthBackend]]] = {
    'default': 'promptda_ros.backends.default:make_default_backend',
    'bilinear': 'promptda_ros.backends.bilinear:make_bilinear_backend',
    'promptda': 'promptda_ros.backends.promptda_backend:make_promptda_backend',
    'starrygazer': 'promptda_ros.backends.starrygazer:make_starrygazer_backend',
}


def register_backend(name: str, factory: Union[str, Callable[..., DepthBackend]]) -> None:
    """Register (or replace) a backend factory under ``name``.

    Args:
        name: non-empty backend name used with :func:`make_backend`.
        factory: callable ``factory(**options) -> DepthBackend``, or a ``'module:function'``
            string imported on first use.

    Raises:
        InputError: empty name or a factory that is neither callable nor a 'module:function'.
    """
    if not isinstance(name, str) or not name.strip():
        raise InputError(f'backend name must be a non-empty string, got {name!r}')
    if not callable(factory) and not (isinstance(factory, str) and ':' in factory):
        raise InputError(f'backend factory for {name!r} must be callable or "module:function", '
                         f'got {factory!r}')
    _REGISTRY[name] = factory


def available_backends() -> List[str]:
    """Return the registered backend names, sorted."""
    return sorted(_REGISTRY)


def _resolve(name: str) -> Callable[..., DepthBackend]:
    factory = _REGISTRY[name]
    if isinstance(factory, str):
        module_name, func_name = factory.split(':', 1)
        module = importlib.import_module(module_name)
        loaded: Callable[..., DepthBackend] = getattr(module, func_name)
        _REGISTRY[name] = loaded
        return loaded
    return factory


def make_backend(name: str, **options) -> DepthBackend:
    """Create the backend ``name`` with keyword ``options``.

    Raises:
        InputError: unknown backend name (the message lists the available ones) or an option the
            backend does not accept.
        CheckpointError: 'promptda' without a usable checkpoint.
    """
    if name not in _REGISTRY:
        raise InputError(f'unknown depth backend {name!r}; available: '
                         f'{", ".join(available_backends())}')
    return _resolve(name)(**options)


def needs_sparse_prompt(backend: Optional[object]) -> bool:
    """Return True when ``backend`` wants the unfilled (sparse) prompt grid."""
    return bool(getattr(backend, 'needs_sparse_prompt', False))
