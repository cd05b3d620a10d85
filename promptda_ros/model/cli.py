# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Command-line tools of the network: promptda-depth, promptda-convert, promptda-export."""

import argparse
import os
import sys

import numpy as np

from promptda_ros.cli_args import parse_hw
from promptda_ros.core.errors import PromptDAError

_EPILOG_CKPT = ('CKPT is an official PromptDA model.ckpt, a transformers -hf directory '
                '(config.json + model.safetensors) or a promptda_ros .safetensors file. '
                'Nothing is downloaded.')


def _fail(prog: str, exc: BaseException) -> int:
    """Print ``error: REASON`` (one line) for ``prog`` and return the exit status 1."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    print('error: %s' % message, file=sys.stderr)
    return 1


def _read_image(path: str) -> tuple:
    """Read an image file -> ((H, W, 3) uint8, encoding name)."""
    import cv2

    from promptda_ros.core.errors import InputError
    if not os.path.isfile(path):
        raise InputError('image not found: %s' % path)
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise InputError('cannot decode image %s' % path)
    return image, 'bgr8'  # OpenCV decodes to BGR; the name carries the order


def depth_main(argv=None) -> int:
    """Entry point of ``promptda-depth``: RGB + depth prompt -> metric depth .npy."""
    parser = argparse.ArgumentParser(
        prog='promptda-depth',
        description='Metric depth from one RGB image and a low-resolution depth prompt '
                    '(e.g. iPhone LiDAR) with Prompt Depth Anything.',
        epilog=_EPILOG_CKPT)
    parser.add_argument('--image', required=True, help='RGB image (PNG / JPEG, any size)')
    parser.add_argument('--prompt', required=True,
                        help='depth prompt: .png uint16 millimetres or .npy float metres; '
                             '0 = no measurement (holes are filled by KNN)')
    parser.add_argument('--checkpoint', required=True, help='model weights (see below)')
    parser.add_argument('--out', required=True,
                        help='output .npy: (H, W) float32 metres at the image resolution, '
                             'NaN = invalid')
    parser.add_argument('--input-size', default=None,
                        help="network input 'HxW' (multiples of 14), or 'native' (the image's "
                             'own size, which must be multiples of 14); default: long side 504 '
                             '(378x504 for a 4:3 image)')
    parser.add_argument('--encoder', choices=('vits', 'vitb', 'vitl'), default=None,
                        help='insist on an encoder size (default: inferred from the weights)')
    parser.add_argument('--device', default='cpu', help="'cpu' or 'cuda[:N]' (default cpu)")
    parser.add_argument('--precision', choices=('auto', 'fp32', 'fp16', 'bf16'), default='auto',
                        help='auto (default: fp16 on cuda, fp32 on cpu), fp32, fp16 (cuda) or '
                             'bf16 (autocast of the ViT blocks)')
    parser.add_argument('--min-depth', type=float, default=0.0,
                        help='clamp output below, metres (default 0)')
    parser.add_argument('--max-depth', type=float, default=100.0,
                        help='clamp output above, metres (default 100)')
    parser.add_argument('--png', default=None,
                        help='also write the depth as a uint16 millimetre PNG here')
    args = parser.parse_args(argv)
    try:
        from promptda_ros.core.depth_io import load_depth, save_depth_png_mm
        from promptda_ros.core.errors import InputError
        from promptda_ros.core.projection import check_prompt_aspect
        from promptda_ros.model.processing import (
            network_input_size,
            parse_input_size,
            ProcessingConfig,
        )
        from promptda_ros.model.runtime import DepthEstimator
        if not args.out.endswith('.npy'):
            raise InputError('--out must end with .npy (float32 metres), got %r' % args.out)
        input_size = parse_input_size(args.input_size) if args.input_size else None
        processing = ProcessingConfig(input_size=input_size, min_depth=args.min_depth,
                                      max_depth=args.max_depth)
        image, encoding = _read_image(args.image)
        network_input_size(image.shape[:2], input_size)  # fail before loading the weights
        prompt = load_depth(args.prompt)
        check_prompt_aspect(image.shape[:2], prompt.shape)
        estimator = DepthEstimator(args.checkpoint, encoder=args.encoder, device=args.device,
                                   precision=args.precision, processing=processing, warmup=0)
        depth = estimator.predict(image, prompt, encoding=encoding)
        folder = os.path.dirname(os.path.abspath(args.out))
        os.makedirs(folder, exist_ok=True)
        np.save(args.out, depth)
        if args.png:
            save_depth_png_mm(args.png, depth)
    except (PromptDAError, OSError) as exc:
        return _fail(parser.prog, exc)
    valid = np.isfinite(depth)
    t = estimator.last_timings
    print('%s: %s %dx%d -> %s, network input %dx%d, depth %.3f..%.3f m (%.1f %% valid), '
          'pre %.0f ms, network %.0f ms, post %.0f ms'
          % (parser.prog, estimator.spec.name, depth.shape[0], depth.shape[1], args.out,
             *estimator.input_size_for(image.shape[:2]),
             float(np.nanmin(depth)) if valid.any() else float('nan'),
             float(np.nanmax(depth)) if valid.any() else float('nan'),
             100.0 * valid.mean(), t['pre'], t['network'], t['post']))
    return 0


def convert_main(argv=None) -> int:
    """Entry point of ``promptda-convert``: convert a checkpoint between formats."""
    parser = argparse.ArgumentParser(
        prog='promptda-convert',
        description='Convert PromptDA weights between the official model.ckpt, a transformers '
                    '-hf directory and the promptda_ros .safetensors file. Every key is '
                    'mapped and checked; nothing is guessed.',
        epilog=_EPILOG_CKPT)
    parser.add_argument('input', help='source checkpoint (any format)')
    parser.add_argument('output', help='destination file (official, safetensors) or '
                                       'directory (hf)')
    parser.add_argument('--to', required=True, choices=('official', 'hf', 'safetensors'),
                        help='destination format')
    parser.add_argument('--encoder', choices=('vits', 'vitb', 'vitl'), default=None,
                        help='insist on an encoder size (default: inferred)')
    args = parser.parse_args(argv)
    try:
        from promptda_ros.model.checkpoint import convert_checkpoint
        ckpt = convert_checkpoint(args.input, args.output, args.to, encoder=args.encoder)
    except (PromptDAError, OSError) as exc:
        return _fail(parser.prog, exc)
    count = sum(int(v.numel()) for v in ckpt.hf_state_dict.values())
    print('%s: %s (%s, %s, %d parameters) -> %s (%s)'
          % (parser.prog, args.input, ckpt.format, ckpt.spec.name, count, args.output, args.to))
    return 0


def export_main(argv=None) -> int:
    """Entry point of ``promptda-export``: ONNX (checked with onnxruntime) or TensorRT."""
    parser = argparse.ArgumentParser(
        prog='promptda-export',
        description='Export the network for one fixed input size. Inputs: image (1,3,H,W) '
                    'float32 ImageNet-normalised RGB, prompt (1,1,h,w) float32 metres; output: '
                    'depth (1,H,W) float32 metres.',
        epilog=_EPILOG_CKPT)
    parser.add_argument('--checkpoint', required=True, help='model weights')
    parser.add_argument('--out', required=True,
                        help='output file: MODEL.onnx, or MODEL.engine for tensorrt (the ONNX '
                             'is written next to it)')
    parser.add_argument('--format', choices=('onnx', 'tensorrt'), default='onnx',
                        help='onnx (default) or tensorrt (needs the tensorrt package)')
    parser.add_argument('--input-size', default='378x504',
                        help="network input 'HxW', multiples of 14 (default 378x504)")
    parser.add_argument('--prompt-size', default='192x256',
                        help="prompt 'HxW' in cells (default 192x256, iPhone LiDAR)")
    parser.add_argument('--opset', type=int, default=17, help='ONNX opset, >= 17 (default 17)')
    parser.add_argument('--no-check', action='store_true',
                        help='skip the onnxruntime vs torch parity check')
    parser.add_argument('--tolerance', type=float, default=1e-3,
                        help='max allowed ONNX vs torch difference, metres (default 0.001)')
    parser.add_argument('--fp32-engine', action='store_true',
                        help='tensorrt: build in fp32 (default: fp16 where supported)')
    args = parser.parse_args(argv)
    try:
        from promptda_ros.core.errors import InputError
        from promptda_ros.model import export
        from promptda_ros.model.checkpoint import load_network
        from promptda_ros.model.processing import parse_input_size
        if args.format == 'onnx' and not args.out.endswith('.onnx'):
            raise InputError('--out must end with .onnx for --format onnx, got %r' % args.out)
        if args.format == 'tensorrt' and args.out.endswith('.onnx'):
            raise InputError('--out is the TensorRT engine (e.g. MODEL.engine; the ONNX is '
                             'written next to it), got %r' % args.out)
        if not args.tolerance > 0:
            raise InputError('--tolerance must be > 0 metres, got %r' % args.tolerance)
        folder = os.path.dirname(os.path.abspath(args.out))
        if not os.path.isdir(folder):
            raise InputError('--out folder does not exist: %s (create it first)' % folder)
        input_hw = parse_input_size(args.input_size)
        if input_hw == 'native':
            raise InputError('--input-size must be HxW for export')
        prompt_hw = parse_hw(args.prompt_size)
        if args.format == 'tensorrt' and not export.tensorrt_available():
            raise export.ExportError(export.TENSORRT_MISSING)
        onnx_path = args.out
        if args.format == 'tensorrt':
            onnx_path = os.path.splitext(args.out)[0] + '.onnx'
        network = load_network(args.checkpoint)
        export.export_onnx(network, onnx_path, input_hw, prompt_hw, opset=args.opset)
        message = 'ONNX %s (opset %d, input %dx%d, prompt %dx%d)' % (
            onnx_path, args.opset, input_hw[0], input_hw[1], prompt_hw[0], prompt_hw[1])
        if not args.no_check:
            err = export.onnx_parity(network, onnx_path, input_hw, prompt_hw)
            if err > args.tolerance:
                raise export.ExportError('ONNX output differs from torch by %.6f m (> %.6f m)'
                                         % (err, args.tolerance))
            message += ', onnxruntime vs torch max diff %.2e m' % err
        if args.format == 'tensorrt':
            export.build_tensorrt_engine(onnx_path, args.out, fp16=not args.fp32_engine)
            message += ', TensorRT engine %s' % args.out
    except (PromptDAError, OSError) as exc:
        return _fail(parser.prog, exc)
    print('%s: %s' % (parser.prog, message))
    return 0
