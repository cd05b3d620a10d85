# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Export of the PromptDA network to ONNX (checked with onnxruntime) and TensorRT.

The exported graph is :class:`~promptda_ros.model.hf_adapter.PromptDANetwork` at one fixed input
size (ViT position embeddings are resized for it at export time)::

    inputs:  image  (1, 3, H, W) float32, (RGB / 255 - ImageNet mean) / std, H, W multiples of 14
             prompt (1, 1, h, w) float32 metres, dense
    output:  depth  (1, H, W) float32 metres

The prompt range uses min / max reductions (ReduceMin / ReduceMax), which equal the official
``torch.quantile(., 0 / 1)`` and export to every runtime. The TensorRT engine is built from the
ONNX file on the target machine (e.g. a Jetson with JetPack's ``tensorrt`` Python package).
"""

import os
import warnings

import numpy as np
import torch

from promptda_ros.core.errors import PromptDAError

DEFAULT_OPSET = 17
INPUT_NAMES = ('image', 'prompt')
OUTPUT_NAMES = ('depth',)


class ExportError(PromptDAError):
    """Export failed or a runtime needed for it is missing."""


def example_inputs(input_hw: tuple, prompt_hw: tuple, seed: int = 0) -> tuple:
    """Return (image (1,3,H,W) normalised, prompt (1,1,h,w) metres in [0.5, 4.5]) tensors."""
    gen = torch.Generator().manual_seed(seed)
    image = torch.randn((1, 3) + tuple(input_hw), generator=gen)
    prompt = 0.5 + 4.0 * torch.rand((1, 1) + tuple(prompt_hw), generator=gen)
    return image, prompt


def export_onnx(network, path: str, input_hw: tuple, prompt_hw: tuple,
                opset: int = DEFAULT_OPSET) -> str:
    """Write ``network`` as ONNX for fixed (H, W) image and (h, w) prompt sizes; return path."""
    if int(opset) < 17:
        raise ExportError('opset must be >= 17 (LayerNormalization), got %d' % opset)
    image, prompt = example_inputs(input_hw, prompt_hw)
    network = network.eval().to('cpu')
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    try:
        with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
            # Shapes are fixed at export time, which is what the tracer warns about.
            warnings.simplefilter('ignore', torch.jit.TracerWarning)
            torch.onnx.export(network, (image, prompt), path, input_names=list(INPUT_NAMES),
                              output_names=list(OUTPUT_NAMES), opset_version=int(opset),
                              do_constant_folding=True, dynamo=False)
    except (RuntimeError, torch.onnx.errors.OnnxExporterError) as exc:
        raise ExportError('ONNX export failed: %s' % exc) from None
    return path


def onnx_parity(network, path: str, input_hw: tuple, prompt_hw: tuple, seed: int = 1) -> float:
    """Run the ONNX file with onnxruntime (CPU) and torch on the same inputs.

    Returns:
        Max absolute depth difference, metres.
    """
    try:
        import onnxruntime as ort
    except ImportError:
        raise ExportError('onnxruntime is not installed: pip install onnxruntime') from None
    image, prompt = example_inputs(input_hw, prompt_hw, seed)
    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    (onnx_depth,) = session.run(list(OUTPUT_NAMES), {'image': image.numpy(),
                                                     'prompt': prompt.numpy()})
    with torch.inference_mode():
        torch_depth = network.eval().to('cpu')(image, prompt).numpy()
    if onnx_depth.shape != torch_depth.shape:
        raise ExportError('ONNX output shape %s differs from torch %s'
                          % (onnx_depth.shape, torch_depth.shape))
    return float(np.abs(onnx_depth - torch_depth).max())


def tensorrt_available() -> bool:
    """Return True when the ``tensorrt`` Python package imports."""
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return False
    return True


TENSORRT_MISSING = ('TensorRT is not installed (the tensorrt Python package does not import). '
                    'Build the engine on the target instead: install TensorRT (on Jetson it '
                    'comes with JetPack), then run promptda-export --format tensorrt there, or '
                    'trtexec --onnx=MODEL.onnx --saveEngine=MODEL.engine --fp16')


def build_tensorrt_engine(onnx_path: str, engine_path: str, fp16: bool = True,
                          workspace_mb: int = 2048) -> str:
    """Build a serialized TensorRT engine from an ONNX file; return ``engine_path``.

    Raises:
        ExportError: TensorRT missing, ONNX parse failure, or build failure.
    """
    try:
        import tensorrt as trt
    except ImportError:
        raise ExportError(TENSORRT_MISSING) from None
    if not os.path.isfile(onnx_path):
        raise ExportError('ONNX file not found: %s' % onnx_path)
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 0
    if hasattr(trt, 'NetworkDefinitionCreationFlag') and \
            hasattr(trt.NetworkDefinitionCreationFlag, 'EXPLICIT_BATCH'):
        flags = 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    with open(onnx_path, 'rb') as f:
        if not parser.parse(f.read()):
            errors = '; '.join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise ExportError('TensorRT could not parse %s: %s' % (onnx_path, errors))
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_mb) << 20)
    if fp16 and builder.platform_has_fast_fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    engine = builder.build_serialized_network(network, config)
    if engine is None:
        raise ExportError('TensorRT failed to build an engine from %s' % onnx_path)
    with open(engine_path, 'wb') as f:
        f.write(engine)
    return engine_path
