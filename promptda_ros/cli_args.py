# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Command-line argument types shared by the package's CLIs (sizes, topic maps)."""

import argparse

from promptda_ros.core.errors import InputError


def parse_hw(text: str) -> tuple[int, int]:
    """Parse ``'HxW'`` (e.g. ``'192x256'``) into (height, width) pixels, both >= 1.

    Raises:
        InputError: not two positive integers separated by 'x'.
    """
    parts = str(text).strip().lower().split('x')
    if len(parts) != 2 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise InputError(f"expected HxW with positive integers such as 192x256, got '{text}'")
    return int(parts[0]), int(parts[1])


def hw_arg(text: str) -> tuple[int, int]:
    """Argparse ``type=`` for an ``HxW`` size (:func:`parse_hw`)."""
    try:
        return parse_hw(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def topics_arg(text: str) -> dict[str, str]:
    """Argparse ``type=`` for ``KEY=TOPIC,...`` -> ``{'KEY_topic': TOPIC}`` (bag topics)."""
    out = {}
    for item in filter(None, text.split(',')):
        key, sep, topic = item.partition('=')
        if not sep or not key.strip() or not topic.strip():
            raise argparse.ArgumentTypeError(f"expected KEY=TOPIC pairs, got '{item}'")
        out[f'{key.strip()}_topic'] = topic.strip()
    return out
