# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""lerobot plugin entry: importing this package registers the ``act_depth`` policy type.

Use it with lerobot's own CLIs::

    lerobot-train --policy.type=act_depth --policy.discover_packages_path=promptda_policy.plugin

(lerobot's plugin loader needs a package, and this one imports nothing else.)
"""

from ..configuration_act_depth import ACTDepthConfig

__all__ = ['ACTDepthConfig']
