# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""The PromptDA network: config, transformers adapter, checkpoints, processing, runtime, export.

Also the conformance-vector weights (``conformance``), generated from the official key manifests.

Import what you need from the submodules (nothing heavy is imported here), e.g.
``from promptda_ros.model.runtime import DepthEstimator``.
"""
