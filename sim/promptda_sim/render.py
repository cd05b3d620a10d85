# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Offscreen MuJoCo rendering (EGL + Mesa) and a diagnosis that names what is missing.

MuJoCo reads ``MUJOCO_GL`` when it is first imported; the simulation sets it to ``egl``
unless the caller chose another backend. When a renderer cannot be created,
:func:`rendering_error` returns one sentence naming the missing system library and the
Debian package that provides it.
"""

import ctypes
import glob
import json
import os

from promptda_ros.core.errors import PromptDAError

os.environ.setdefault('MUJOCO_GL', 'egl')

EGL_VENDOR_DIRS = ('/usr/share/glvnd/egl_vendor.d', '/etc/glvnd/egl_vendor.d')
PACKAGES = {'libEGL.so.1': 'libegl1', 'libGL.so.1': 'libgl1', 'libEGL_mesa.so.0': 'libegl-mesa0',
            'swrast_dri.so': 'libgl1-mesa-dri', 'libGLESv2.so.2': 'libgles2'}


class RenderingUnavailable(PromptDAError):
    """Offscreen rendering cannot start (missing system library or unusable backend)."""


def _loads(name: str) -> bool:
    try:
        ctypes.CDLL(name)
    except OSError:
        return False
    return True


def _egl_vendors() -> tuple:
    """Return (vendor library names from the glvnd JSON files, the directories searched)."""
    env = os.environ.get('__EGL_VENDOR_LIBRARY_DIRS')
    dirs = tuple(d for d in env.split(':') if d) if env else EGL_VENDOR_DIRS
    names = []
    for d in dirs:
        for path in sorted(glob.glob(os.path.join(d, '*.json'))):
            try:
                with open(path, encoding='utf-8') as f:
                    names.append(json.load(f)['ICD']['library_path'])
            except (OSError, ValueError, KeyError, TypeError):
                continue
    return names, dirs


def rendering_error(cause: BaseException | None = None) -> str:
    """Explain why offscreen rendering is unavailable, naming the missing library.

    Args:
        cause: the exception raised when the renderer was created, if any.
    """
    backend = os.environ.get('MUJOCO_GL', 'egl')
    tail = ' (%s)' % str(cause).strip().splitlines()[0] if cause is not None and str(cause) else ''
    if backend != 'egl':
        return ('offscreen rendering with MUJOCO_GL=%s failed%s; use MUJOCO_GL=egl with Mesa '
                '(apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri)' % (backend, tail))
    for lib in ('libEGL.so.1', 'libGL.so.1'):
        if not _loads(lib):
            return ('offscreen rendering unavailable: system library %s is missing (apt-get '
                    'install %s)%s' % (lib, PACKAGES[lib], tail))
    vendors, dirs = _egl_vendors()
    if not vendors:
        return ('offscreen rendering unavailable: no EGL vendor library (libEGL_mesa.so.0 from '
                'libegl-mesa0) is registered in %s (apt-get install libegl-mesa0)%s'
                % (':'.join(dirs), tail))
    if not any(_loads(v) for v in vendors):
        return ('offscreen rendering unavailable: EGL vendor library %s cannot be loaded '
                '(apt-get install libegl-mesa0)%s' % (', '.join(vendors), tail))
    dri = glob.glob('/usr/lib/*/dri/swrast_dri.so') + glob.glob('/usr/lib/dri/swrast_dri.so')
    if not dri and not os.environ.get('LIBGL_DRIVERS_PATH'):
        return ('offscreen rendering unavailable: Mesa software driver swrast_dri.so is missing '
                '(apt-get install libgl1-mesa-dri)%s' % tail)
    return 'offscreen rendering unavailable with MUJOCO_GL=egl%s' % tail


try:  # MuJoCo picks its OpenGL backend (MUJOCO_GL) at import time
    import mujoco  # noqa: E402
except (ImportError, AttributeError, OSError, RuntimeError) as _exc:
    raise RenderingUnavailable(rendering_error(_exc)) from None


def make_renderer(model, height: int, width: int):
    """Create a ``mujoco.Renderer`` of (height, width) pixels or raise RenderingUnavailable."""
    try:
        return mujoco.Renderer(model, int(height), int(width))
    except Exception as exc:  # mujoco raises plain Exceptions / FatalError from GL setup
        raise RenderingUnavailable(rendering_error(exc)) from None
