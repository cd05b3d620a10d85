#!/usr/bin/env bash
# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0
#
# Create (or reuse) the project's virtual environment at .venv/ and install the pinned
# requirements plus this package in editable mode. Safe to run again: the install is skipped
# while requirements.txt is unchanged.
#
# Environment:
#   PYTHON                 interpreter to build the venv with (default: a Python 3.12 on PATH or pyenv's)
#   PROMPTDA_VENV_CACHE    optional folder keeping venvs keyed on the requirements hash; .venv then
#                          becomes a link into it, so fresh clones (CI) reuse an earlier install.
#                          Clones share that venv: the clone set up last owns its editable install
#                          (`make test` sets up first; test_core_imports.py checks it).
set -euo pipefail
cd "$(dirname "$0")/.."

find_python() {
  if [ -n "${PYTHON:-}" ]; then echo "$PYTHON"; return; fi
  for cand in python3.12 python3; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null; then
      command -v "$cand"; return
    fi
  done
  if command -v pyenv >/dev/null 2>&1; then
    local p
    p=$(ls -d "$(pyenv root)"/versions/3.12*/bin/python3.12 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -n "$p" ]; then echo "$p"; return; fi
  fi
  echo "error: Python 3.12 not found (lerobot 0.6 needs it); set PYTHON=/path/to/python3.12" >&2
  exit 1
}

# System libraries the wheels need but do not ship: open3d (3-D reconstruction scores) links
# libusb-1.0. Installed with apt when running as root (CI, containers); otherwise say so.
ensure_system_libs() {
  # libusb: open3d. EGL + Mesa (software OpenGL): offscreen MuJoCo rendering for the simulation
  # (MUJOCO_GL=egl).
  local missing=""
  ldconfig -p 2>/dev/null | grep -q 'libusb-1.0.so.0' || missing="$missing libusb-1.0-0"
  ldconfig -p 2>/dev/null | grep -q 'libEGL.so.1' || missing="$missing libegl1 libegl-mesa0"
  ldconfig -p 2>/dev/null | grep -q 'libGL.so.1' || missing="$missing libgl1"
  ldconfig -p 2>/dev/null | grep -q 'libGLESv2.so.2' || missing="$missing libgles2"
  [ -e /usr/share/glvnd/egl_vendor.d/50_mesa.json ] || missing="$missing libegl-mesa0"
  ls /usr/lib/*/dri/swrast_dri.so /usr/lib/*/dri/libdril_dri.so >/dev/null 2>&1 \
    || missing="$missing libgl1-mesa-dri"
  if [ -z "$missing" ]; then return; fi
  missing=$(echo $missing | tr ' ' '\n' | sort -u | tr '\n' ' ')
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing $missing(open3d, offscreen rendering)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing) >/dev/null
  else
    echo "setup: warning: missing system libraries; run 'sudo apt-get install $missing'" \
      "(libusb: open3d; EGL/Mesa: the MuJoCo simulation)" >&2
  fi
}

ensure_system_libs
PY=$(find_python)
# Keyed on what pip reads (comments and spacing stripped) and on the interpreter.
HASH=$( (sed -e 's/#.*//' -e 's/[[:space:]]//g' requirements.txt | grep -v '^$'; "$PY" -c 'import sys; print(sys.version)') | sha256sum | cut -c1-16)

if [ -n "${PROMPTDA_VENV_CACHE:-}" ]; then
  target="$PROMPTDA_VENV_CACHE/venv-$HASH"
  mkdir -p "$PROMPTDA_VENV_CACHE"
  if [ -e .venv ] && [ ! -L .venv ]; then rm -rf .venv; fi
  ln -sfn "$target" .venv
elif [ -L .venv ] && [ -f "$(readlink -f .venv)/.requirements-$HASH" ]; then
  # .venv links to a ready venv of these same requirements (made with a cache earlier): keep it.
  target=$(readlink -f .venv)
else
  target=.venv
  if [ -L .venv ]; then rm .venv; fi
fi

if [ ! -f "$target/.requirements-$HASH" ]; then
  echo "setup: creating the venv with $PY (first time: ~8 min, ~8 GB: PyTorch, lerobot, ROS 2 wheels)"
  rm -rf "$target"
  "$PY" -m venv "$target"
  "$target/bin/python" -m pip install --quiet --upgrade pip
  "$target/bin/python" -m pip install --progress-bar off -r requirements.txt
  touch "$target/.requirements-$HASH"
else
  echo "setup: reusing the venv (requirements unchanged)"
fi
# The package itself: editable, so the checkout's code is what runs (fast: no dependencies).
log=$(mktemp)
if ! .venv/bin/python -m pip install --quiet --no-deps --no-build-isolation -e . >"$log" 2>&1; then
  cat "$log" >&2; rm -f "$log"; exit 1
fi
rm -f "$log"
echo "setup: ready (.venv/bin/python)"
