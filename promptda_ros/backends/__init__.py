# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Depth backends: the tables of backend and relative-source names, and the backend registry.

A backend is any object with a ``name`` and a
``predict(rgb, prompt_m, camera=None) -> (H, W) float32 metres`` method (see
:class:`promptda_ros.pipeline.DepthBackend`, the interface the frame pipeline runs). The
built-in backends (:data:`BUILTIN_BACKENDS`, the one table of their names):

``default``
    weights-free RGB-guided completion (:mod:`promptda_ros.backends.default`), no torch needed.
``bilinear``
    hole-filled prompt resized to the image (the paper's "ARKit depth" baseline).
``promptda``
    the PromptDA network (:mod:`promptda_ros.backends.promptda_backend`), imported lazily so
    torch / transformers load only when it is requested.
``starrygazer``
    the LiDAR-only completion refined with relative depth by weights trained without ground
    truth (``promptda-adapt``; :mod:`promptda_ros.backends.starrygazer`), lazily imported.

The relative-depth sources (:data:`RELATIVE_SOURCE_TABLE`, the one table of their names) are
implemented in :mod:`promptda_ros.backends.relative`.  The node's parameter choices, the
evaluation's methods and the simulator's depth sources derive from these two tables.

Backends with the class attribute ``needs_sparse_prompt = True`` want the unfilled projection
(0 = no measurement); the others may be handed a hole-filled prompt.
"""

from dataclasses import dataclass
import importlib
from typing import Callable, Dict, List, Union

from promptda_ros.core.errors import InputError
from promptda_ros.pipeline import DepthBackend

__all__ = ['BUILTIN_BACKENDS', 'BuiltinBackend', 'DepthBackend', 'NETWORK_RELATIVE_SOURCES',
           'PROMPT_BACKENDS', 'RELATIVE_SOURCE_TABLE', 'RELATIVE_SOURCES', 'WEIGHTS_FREE_BACKENDS',
           'available_backends', 'make_backend', 'register_backend']


@dataclass(frozen=True)
class BuiltinBackend:
    """One row of the built-in backend table.

    Attributes:
        factory: ``'module:function'`` building the backend, imported on first use.
        needs_weights: a weights file (option ``checkpoint``) is required.
        needs_relative: a relative-depth source is required besides RGB and the prompt.
    """

    factory: str
    needs_weights: bool
    needs_relative: bool


BUILTIN_BACKENDS: Dict[str, BuiltinBackend] = {
    'default': BuiltinBackend('promptda_ros.backends.default:make_default_backend', False, False),
    'bilinear': BuiltinBackend('promptda_ros.backends.bilinear:make_bilinear_backend', False,
                               False),
    'promptda': BuiltinBackend('promptda_ros.backends.promptda_backend:make_promptda_backend',
                               True, False),
    'starrygazer': BuiltinBackend('promptda_ros.backends.starrygazer:make_starrygazer_backend',
                                  True, True),
}
WEIGHTS_FREE_BACKENDS = tuple(n for n, b in BUILTIN_BACKENDS.items() if not b.needs_weights)
"""Built-in backends that run with no weights file: ('default', 'bilinear')."""
PROMPT_BACKENDS = tuple(n for n, b in BUILTIN_BACKENDS.items() if not b.needs_relative)
"""Built-in backends that need only RGB and the prompt: ('default', 'bilinear', 'promptda')."""

# The relative-depth sources (promptda_ros.backends.relative.make_relative_source), one row each:
# name -> what the map is made from: the input's own relative-depth topic, a folder of maps, or
# a network run on the image alone.
RELATIVE_SOURCE_TABLE: Dict[str, str] = {
    'bag': 'input',
    'disk': 'folder',
    'promptda_noprompt': 'image',
    'depth_anything_v2': 'image',
}
RELATIVE_SOURCES = tuple(RELATIVE_SOURCE_TABLE)
"""Every relative-source name: ('bag', 'disk', 'promptda_noprompt', 'depth_anything_v2')."""
NETWORK_RELATIVE_SOURCES = tuple(n for n, made_from in RELATIVE_SOURCE_TABLE.items()
                                 if made_from == 'image')
"""The relative sources that run on the image alone: the ones a live node (the ``starrygazer``
backend's ``relative_source``) can use."""

# name -> factory(**options) or 'module:function' resolved on first use.
_REGISTRY: Dict[str, Union[str, Callable[..., DepthBackend]]] = {
    name: row.factory for name, row in BUILTIN_BACKENDS.items()}


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
