# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Device check: every speed figure of the package on one machine, in one call, in minutes.

    python bench/device_check.py [--device cuda] [--out device_check]     # the GPU run
    python bench/device_check.py --smoke                                  # CPU, tiny sizes

Writes ``OUT/device_check.json`` and ``OUT/device_check.md`` (the same figures as tables).
Needs only torch, transformers, safetensors, numpy, opencv and scipy (onnxruntime + onnx,
torchvision, matplotlib and lerobot where present); rclpy, rosbags and MuJoCo are never
imported. Weights are the conformance-vector weights (:mod:`promptda_ros.model.conformance`),
generated here, so nothing is downloaded. Sections, each with a time cap (seconds, full run; a
section that reaches its cap lists what it left out):

network   (240) PromptDA ViT-S and ViT-L, batch 1, at 378x504, 756x1008 and 768x1024, in fp32,
          fp16 and bf16: latency p50 / p99 and frames/s of the eager network (SDPA attention),
          of a CUDA-graph replay and of ``torch.compile`` (CUDA, precision 'auto', while time
          is left), peak GPU memory; max |delta| of each precision against fp32 and against the
          official outputs on the conformance vectors.
onnx       (40) ViT-S at 378x504 exported to ONNX, run with every onnxruntime provider present.
pipeline   (40) the perception pipeline without ROS on the generated sample's frames: decode the
          image and cloud fields -> LiDAR prompt -> network (backend 'promptda', precision
          'auto') -> output mask; frames/s and latency per stage.
train      (70) ``promptda-train`` for a few steps (bf16 autocast on CUDA), steps/s.
torchrun   (45) the same with 2 processes (NCCL) when 2 GPUs are visible.
policy     (30) ACT-depth forward + backward at the simulation recipe's size (lerobot), steps/s;
          without lerobot, its ResNet18 depth backbone alone (torchvision).

The caps add up to 465 s; ``--budget-s`` (480) bounds the whole run: a section never gets more
than what is left of it, so one that overruns (a slow ``torch.compile``) shortens the next ones.
p99 is taken over 20 (ViT-L) or 40 (ViT-S) timed calls, i.e. close to their maximum.

``--smoke`` runs every section at tiny sizes for a few iterations (CI runs it on the CPU), so a
GPU machine never meets a code path that has never run. ``--device cuda`` without CUDA is a
one-line error (exit 2).

One file of ~840 lines on purpose: it is carried alone to a bare GPU machine, so its sections,
timers and report writer travel together.
"""

import argparse
import json
import math
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import traceback

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Run from a bare checkout (nothing installed): the package and the policy package from here.
for _path in (os.path.join(REPO, 'policy'), REPO):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import numpy as np  # noqa: E402
import torch  # noqa: E402

from promptda_ros.model.runtime import AUTO_PRECISION, DeviceError, resolve_device  # noqa: E402

SECTIONS = ('network', 'onnx', 'pipeline', 'train', 'torchrun', 'policy')
CAPS_S = {'network': 240.0, 'onnx': 40.0, 'pipeline': 40.0, 'train': 70.0, 'torchrun': 45.0,
          'policy': 30.0}
# Smoke sizes take seconds; these caps only stop a run that hangs.
SMOKE_CAPS_S = {name: 120.0 for name in CAPS_S}
PAPER_SIZES = ((378, 504), (756, 1008), (768, 1024))
PRECISIONS = ('fp32', 'fp16', 'bf16')
PROMPT_HW = (192, 256)
# ACT-depth as trained on the simulation (README, Simulation): 60x80 depth, 5 joints (H1 right
# arm + gripper), chunks of 30, transformer 256 wide, 2 encoder / 1 decoder layers, no VAE.
POLICY_RECIPE = dict(height=60, width=80, joints=5, batch=8, chunk_size=30, dim_model=256,
                     n_heads=8, dim_feedforward=1024, n_encoder_layers=2, n_decoder_layers=1,
                     use_vae=False)


class Settings:
    """Sizes and iteration counts of a full run or of ``--smoke``."""

    def __init__(self, smoke: bool, device: torch.device):
        self.smoke = smoke
        self.device = device
        self.caps = dict(SMOKE_CAPS_S if smoke else CAPS_S)
        self.encoders = ('vits',) if smoke else ('vits', 'vitl')
        self.sizes = ((56, 70),) if smoke else PAPER_SIZES
        self.iters = {'vits': 3, 'vitl': 3} if smoke else {'vits': 40, 'vitl': 20}
        self.warmup = 1 if smoke else 5
        self.cases = {'vits': ('vits_case0',)} if smoke else {}  # {} = every case
        self.onnx_size = (56, 70) if smoke else (378, 504)
        self.camera_hw = (84, 112) if smoke else (480, 640)
        self.frames = 3 if smoke else 10
        self.passes = 1 if smoke else 3  # over the frames; a full run does not time the first
        self.train = dict(steps=3, frames=5, input='56x70', prompt='24x32', batch=1) if smoke \
            else dict(steps=30, frames=8, input='378x504', prompt='192x256', batch=2)
        self.policy_steps = 1 if smoke else 20
        self.policy = dict(POLICY_RECIPE, batch=2, chunk_size=5, dim_model=32, n_heads=2,
                           dim_feedforward=64, n_encoder_layers=1) if smoke else POLICY_RECIPE


class Section:
    """Figures of one section: rows, what was skipped (with reasons), status and time."""

    def __init__(self, name: str, cap_s: float):
        self.name = name
        self.cap_s = cap_s
        self.start = time.perf_counter()
        self.out = {'status': 'ok', 'cap_s': cap_s, 'rows': [], 'skipped': [], 'notes': []}

    def left_s(self) -> float:
        """Seconds left under the cap."""
        return self.cap_s - (time.perf_counter() - self.start)

    def row(self, **values) -> None:
        """Add one row of figures."""
        self.out['rows'].append(values)

    def skip(self, what: str, reason: str) -> None:
        """Record that ``what`` was not measured and why."""
        self.out['skipped'].append({'what': what, 'reason': reason})

    def note(self, text: str) -> None:
        """Add a line of context (versions, settings)."""
        self.out['notes'].append(text)

    def over_cap(self, what: str, need_s: float = 0.0) -> bool:
        """Return True (and record the skip) when fewer than ``need_s`` s are left."""
        if self.left_s() > need_s:
            return False
        self.skip(what, 'section time cap (%.0f s) reached' % self.cap_s)
        return True


def one_line(exc: BaseException) -> str:
    """Return 'Type: first line of the message' of an exception."""
    text = str(exc).strip().splitlines()
    return '%s: %s' % (type(exc).__name__, text[0] if text else '')


def sync(device: torch.device) -> None:
    """Wait for the device's queued work."""
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def time_calls(fn, device: torch.device, warmup: int, iters: int, deadline: float) -> list:
    """Call ``fn`` ``warmup`` times, then time up to ``iters`` calls (until ``deadline``).

    Returns:
        latencies of the timed calls, ms (each call synchronised).
    """
    for _ in range(warmup):
        fn()
    sync(device)
    out = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        sync(device)
        out.append(1e3 * (time.perf_counter() - t0))
        if time.perf_counter() > deadline and len(out) >= 3:
            break
    return out


def latency_figures(ms: list) -> dict:
    """Return p50 / p99 latency (ms), frames/s (from the mean) and the number of runs."""
    arr = np.asarray(ms, dtype=np.float64)
    return {'p50_ms': round(float(np.percentile(arr, 50)), 3),
            'p99_ms': round(float(np.percentile(arr, 99)), 3),
            'fps': round(1e3 / float(arr.mean()), 3), 'runs': int(arr.size)}


def reset_peak(device: torch.device) -> None:
    """Start a new peak-memory window."""
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)


def peak_mib(device: torch.device):
    """Return the peak GPU memory allocated since :func:`reset_peak`, MiB (None on the CPU)."""
    if device.type != 'cuda':
        return None
    return round(torch.cuda.max_memory_allocated(device) / 2 ** 20, 1)


def usable_precisions(device: torch.device) -> dict:
    """Return {precision: None if usable on ``device``, else the reason}."""
    out = {}
    for name in PRECISIONS:
        try:
            resolve_device(str(device), name)
            out[name] = None
        except DeviceError as exc:
            out[name] = str(exc)
    if device.type == 'cuda' and not torch.cuda.is_bf16_supported():
        out['bf16'] = 'this GPU has no bf16 support'
    return out


def bench_inputs(size: tuple, device: torch.device) -> tuple:
    """Return a normalised image (1, 3, H, W) and a dense prompt (1, 1, 192, 256) metres."""
    from promptda_ros.model.export import example_inputs
    image, prompt = example_inputs(size, PROMPT_HW)
    return image.to(device), prompt.to(device)


class CudaGraph:
    """One CUDA graph of ``fn`` on static inputs; calling it replays the graph."""

    def __init__(self, fn, device: torch.device):
        stream = torch.cuda.Stream(device)
        stream.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(stream):
            for _ in range(3):
                fn()
        torch.cuda.current_stream(device).wait_stream(stream)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.output = fn()

    def __call__(self):
        """Replay the graph; return its (static) output tensor."""
        self.graph.replay()
        return self.output


def conformance_deltas(encoder: str, estimators: dict, device: torch.device,
                       names=None) -> dict:
    """Max |delta| (m) of each precision against fp32 and the official outputs on the vectors.

    Args:
        encoder: 'vits' / 'vitb' / 'vitl'.
        estimators: {precision: DepthEstimator}, 'fp32' included.
        device: where the estimators run.
        names: the cases to run; None = every case of ``encoder``.

    Returns:
        {precision: {'vs_fp32_m': ..., 'vs_official_m': ..., 'cases': [...]}}.
    """
    from promptda_ros.model.conformance import case_inputs, case_names, load_case
    names = list(names or case_names(encoder))
    out = {p: {'vs_fp32_m': 0.0, 'vs_official_m': 0.0, 'cases': names} for p in estimators}
    for name in names:
        case = load_case(name)
        pixels, prompt = (t.to(device) for t in case_inputs(case))
        official = torch.from_numpy(case['expected_depth_m']).to(device)
        ref = estimators['fp32'].infer(pixels, prompt)[0]
        for precision, est in estimators.items():
            depth = est.infer(pixels, prompt)[0]
            out[precision]['vs_fp32_m'] = max(out[precision]['vs_fp32_m'],
                                              float((depth - ref).abs().max()))
            out[precision]['vs_official_m'] = max(out[precision]['vs_official_m'],
                                                  float((depth - official).abs().max()))
    return out


def run_network(section: Section, settings: Settings) -> None:
    """Time the network per encoder, size, precision and path; conformance deltas, memory."""
    from promptda_ros.model.conformance import conformance_network
    from promptda_ros.model.runtime import DepthEstimator
    device = settings.device
    usable = usable_precisions(device)
    for precision, reason in usable.items():
        if reason:
            section.skip('precision %s' % precision, reason)
    precisions = [p for p in PRECISIONS if usable[p] is None]
    auto = AUTO_PRECISION[device.type]
    section.note('attention: SDPA (eager rows); fp32 matmul TF32 %s, cuDNN TF32 %s'
                 % (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32))
    # Fraction of the time left that an encoder may use (the last one gets all that is left).
    share = {'vits': 0.3 if len(settings.encoders) > 1 else 1.0, 'vitl': 1.0}
    for encoder in settings.encoders:
        deadline = time.perf_counter() + share[encoder] * section.left_s()
        if section.over_cap('%s (all rows)' % encoder, 5.0):
            continue
        t0 = time.perf_counter()
        network = conformance_network(encoder, device=str(device))
        section.note('%s: %d parameters, conformance weights built in %.1f s'
                     % (encoder, sum(p.numel() for p in network.parameters()),
                        time.perf_counter() - t0))
        estimators = {p: DepthEstimator(network, device=str(device), precision=p, warmup=0)
                      for p in precisions}
        deltas = conformance_deltas(encoder, estimators, device, settings.cases.get(encoder))
        for precision, figures in deltas.items():
            section.row(kind='conformance', encoder=encoder, precision=precision,
                        max_abs_vs_fp32_m=round(figures['vs_fp32_m'], 6),
                        max_abs_vs_official_m=round(figures['vs_official_m'], 6),
                        cases=','.join(figures['cases']))
        for size in settings.sizes:
            pixels, prompt = bench_inputs(size, device)
            reference = estimators['fp32'].infer(pixels, prompt)
            for precision in precisions:
                est = estimators[precision]
                paths = [('eager', lambda est=est: est.infer(pixels, prompt))]
                if device.type == 'cuda':
                    paths.append(('cuda_graph', None))
                for path, fn in paths:
                    what = '%s %dx%d %s %s' % (encoder, size[0], size[1], precision, path)
                    if time.perf_counter() > deadline:
                        section.skip(what, 'section time cap (%.0f s) reached' % section.cap_s)
                        continue
                    try:
                        reset_peak(device)
                        if path == 'cuda_graph':
                            fn = CudaGraph(lambda est=est: est.infer(pixels, prompt), device)
                        ms = time_calls(fn, device, settings.warmup, settings.iters[encoder],
                                        deadline)
                        delta = float((fn() - reference).abs().max())
                    except (RuntimeError, torch.cuda.OutOfMemoryError) as exc:
                        section.skip(what, 'failed: ' + one_line(exc))
                        continue
                    section.row(kind='latency', encoder=encoder, size='%dx%d' % size,
                                precision=precision, path=path, peak_mib=peak_mib(device),
                                max_abs_vs_fp32_eager_m=round(delta, 6),
                                **latency_figures(ms))
        _compiled_rows(section, settings, network, encoder, auto, deadline)
        del estimators, network
        if device.type == 'cuda':
            torch.cuda.empty_cache()


def _compiled_rows(section: Section, settings: Settings, network, encoder: str,
                   precision: str, deadline: float) -> None:
    """``torch.compile`` rows (CUDA, one precision), size by size while time is left."""
    from promptda_ros.model.runtime import DepthEstimator
    device = settings.device
    if device.type != 'cuda':
        section.skip('%s torch.compile' % encoder, 'compiled rows are measured on CUDA only '
                     '(a CPU inductor build takes minutes here)')
        return
    try:
        est = DepthEstimator(network, device=str(device), precision=precision, compile=True,
                             warmup=0)
        eager = DepthEstimator(network, device=str(device), precision='fp32', warmup=0)
    except (RuntimeError, DeviceError) as exc:
        section.skip('%s torch.compile' % encoder, 'failed: ' + one_line(exc))
        return
    for size in settings.sizes:
        what = '%s %dx%d %s compile' % (encoder, size[0], size[1], precision)
        if deadline - time.perf_counter() < 60.0:
            section.skip(what, 'section time cap: less than 60 s left for a compilation')
            continue
        pixels, prompt = bench_inputs(size, device)
        try:
            reset_peak(device)
            t0 = time.perf_counter()
            est.infer(pixels, prompt)
            sync(device)
            compile_s = time.perf_counter() - t0
            ms = time_calls(lambda: est.infer(pixels, prompt), device, settings.warmup,
                            settings.iters[encoder], deadline)
            delta = float((est.infer(pixels, prompt) - eager.infer(pixels, prompt)).abs().max())
        except Exception as exc:  # inductor / dynamo raise many types; the row records it
            section.skip(what, 'failed: ' + one_line(exc))
            continue
        section.row(kind='latency', encoder=encoder, size='%dx%d' % size, precision=precision,
                    path='compile', peak_mib=peak_mib(device), compile_s=round(compile_s, 1),
                    max_abs_vs_fp32_eager_m=round(delta, 6), **latency_figures(ms))


def run_onnx(section: Section, settings: Settings, tmp: str) -> None:
    """Export ViT-S to ONNX and run it with every onnxruntime execution provider present."""
    for module, role in (('onnxruntime', 'the runtime'), ('onnx', 'needed by torch.onnx.export')):
        try:
            __import__(module)
        except ImportError as exc:
            section.out['status'] = 'skipped'
            section.skip('onnx', '%s (%s) does not import: %s; carry its wheel (README)'
                         % (module, role, one_line(exc)))
            return
    import onnxruntime as ort

    from promptda_ros.model.conformance import conformance_network
    from promptda_ros.model.export import example_inputs, export_onnx, OUTPUT_NAMES
    present = ort.get_available_providers()
    section.note('onnxruntime %s, providers present: %s' % (ort.__version__, ', '.join(present)))
    providers = sorted(present, key=lambda name: name.startswith('Tensorrt'))  # slowest last
    network = conformance_network('vits')
    size = settings.onnx_size
    path = os.path.join(tmp, 'promptda_vits.onnx')
    t0 = time.perf_counter()
    export_onnx(network, path, size, PROMPT_HW)
    section.note('export of vits at %dx%d: %.1f s, %.0f MB' % (size + (
        time.perf_counter() - t0, os.path.getsize(path) / 1e6)))
    image, prompt = example_inputs(size, PROMPT_HW, seed=1)
    feeds = {'image': image.numpy(), 'prompt': prompt.numpy()}
    with torch.inference_mode():
        reference = network(image, prompt).numpy()
    for provider in providers:
        what = 'vits %dx%d %s' % (size + (provider,))
        # Building a TensorRT engine takes minutes; it is tried only with that much time left.
        if section.over_cap(what, 40.0 if provider.startswith('Tensorrt') else 3.0):
            continue
        try:
            session = ort.InferenceSession(path, providers=[provider])
            ran = session.get_providers()
            run = lambda: session.run(list(OUTPUT_NAMES), feeds)  # noqa: E731
            ms = time_calls(run, torch.device('cpu'), settings.warmup, settings.iters['vits'],
                            time.perf_counter() + section.left_s())
            delta = float(np.abs(run()[0] - reference).max())
        except Exception as exc:  # onnxruntime raises its own types per provider
            section.skip(what, 'failed: ' + one_line(exc))
            continue
        section.row(encoder='vits', size='%dx%d' % size, provider=provider,
                    providers_used=','.join(ran), max_abs_vs_torch_fp32_m=round(delta, 6),
                    **latency_figures(ms))


def _sample_frames(settings: Settings, count: int) -> tuple:
    """Return (generator, frames) of the generated sample at the check's camera size."""
    from promptda_ros.sample.scene import SampleConfig, SampleGenerator
    h, w = settings.camera_hw
    gen = SampleGenerator(SampleConfig(seed=0, frames=count, width=w, height=h))
    return gen, list(gen.frames())


def run_pipeline(section: Section, settings: Settings, tmp: str) -> None:
    """Time the frame pipeline of the node, without ROS, on the sample (frames/s, latency)."""
    from types import SimpleNamespace

    from promptda_ros.backends import make_backend
    from promptda_ros.core import msg_codec
    from promptda_ros.model.checkpoint import save_checkpoint
    from promptda_ros.model.conformance import conformance_network
    from promptda_ros.pipeline import DepthPipeline, PipelineConfig, prompt_from_points
    device = settings.device
    t0 = time.perf_counter()
    gen, frames = _sample_frames(settings, settings.frames)
    section.note('sample frames generated in %.1f s' % (time.perf_counter() - t0))
    # The messages as they arrive (fields of sensor_msgs Image / PointCloud2), encoded once.
    messages = [(SimpleNamespace(**msg_codec.image_fields(f.rgb, 'rgb8')),
                 SimpleNamespace(**msg_codec.cloud_fields(f.points_lidar))) for f in frames]
    network = conformance_network('vits')
    weights = save_checkpoint(network.spec, network.hf_state_dict(),
                              os.path.join(tmp, 'vits.safetensors'), 'safetensors')
    backend = make_backend('promptda', checkpoint=weights, device=str(device),
                           precision='auto', warmup=1,
                           input_size=settings.sizes[0] if settings.smoke else None)
    est = backend.estimator
    default = PipelineConfig()
    config = PipelineConfig.with_prompt_hw((min(default.prompt_hw[0], settings.camera_hw[0]),
                                            min(default.prompt_hw[1], settings.camera_hw[1])))
    pipeline = DepthPipeline(backend)
    section.note('camera %dx%d, %d frames, prompt %dx%d (%s fill), network input %dx%d, '
                 'precision %s' % (settings.camera_hw + (len(frames),) + config.prompt_hw
                                   + (config.prompt_fill,)
                                   + tuple(est.input_size_for(settings.camera_hw))
                                   + (est.precision,)))
    stages = {'decode': [], 'prompt': [], 'network': [], 'total': []}
    valid = []
    for i, (image_msg, cloud_msg) in enumerate(messages * settings.passes):
        if section.over_cap('frames after %d' % i, 1.0):
            break
        t0 = time.perf_counter()
        rgb = msg_codec.decode_rgb(image_msg)
        points = msg_codec.cloud_to_xyz(cloud_msg)
        t1 = time.perf_counter()
        prompt = prompt_from_points(points, gen.T_cam_lidar, gen.camera, config)
        _ = prompt.filled_m  # the hole filling, on the prompt's clock
        t2 = time.perf_counter()
        result = pipeline.predict(rgb, gen.camera, prompt, config)
        t3 = time.perf_counter()
        if i < len(messages) and not settings.smoke:
            continue  # the first pass over the frames warms caches up
        stages['decode'].append(1e3 * (t1 - t0))
        stages['prompt'].append(1e3 * (t2 - t1))
        stages['network'].append(1e3 * result.network_s)
        stages['total'].append(1e3 * (t3 - t0))
        valid.append(float(np.isfinite(result.depth_m).mean()))
    if not stages['total']:
        section.out['status'] = 'skipped'
        return
    section.row(stage='end to end', valid_fraction=round(float(np.mean(valid)), 4),
                **latency_figures(stages['total']))
    for name in ('decode', 'prompt', 'network'):
        section.row(stage=name, **latency_figures(stages[name]))


def _write_frame_folder(root: str, settings: Settings, count: int) -> None:
    """Write sample frames as a frame folder (rgb/, gt/, prompt/, intrinsics.json)."""
    import cv2

    from promptda_ros.pipeline import lidar_prompt_grid, PipelineConfig
    gen, frames = _sample_frames(settings, count)
    grid = tuple(int(v) for v in settings.train['prompt'].split('x'))
    config = PipelineConfig.with_prompt_hw(grid)
    for sub in ('rgb', 'gt', 'prompt'):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    for f in frames:
        stem = '%06d' % f.index
        cv2.imwrite(os.path.join(root, 'rgb', stem + '.png'), f.rgb[..., ::-1])
        np.save(os.path.join(root, 'gt', stem + '.npy'), f.depth_gt_m)
        np.save(os.path.join(root, 'prompt', stem + '.npy'),
                lidar_prompt_grid(f.points_lidar, gen.T_cam_lidar, gen.camera, config))
    cam = gen.camera
    with open(os.path.join(root, 'intrinsics.json'), 'w', encoding='utf-8') as f:
        json.dump({'fx': cam.fx, 'fy': cam.fy, 'cx': cam.cx, 'cy': cam.cy,
                   'width': cam.width, 'height': cam.height}, f)


def _train_inputs(settings: Settings, tmp: str) -> tuple:
    """Return (frame folder, start weights) for the training sections (made once)."""
    folder = os.path.join(tmp, 'train_frames')
    init = os.path.join(tmp, 'init.safetensors')
    if not os.path.isdir(folder):
        _write_frame_folder(folder, settings, settings.train['frames'])
        from promptda_ros.model.checkpoint import save_checkpoint
        if settings.smoke:
            from promptda_ros.model.config import TINY
            from promptda_ros.model.hf_adapter import PromptDANetwork
            torch.manual_seed(0)
            network = PromptDANetwork(TINY)
        else:
            from promptda_ros.model.conformance import conformance_network
            network = conformance_network('vits')
        save_checkpoint(network.spec, network.hf_state_dict(), init, 'safetensors')
    return folder, init


def _subprocess_env() -> dict:
    """Environment of the training processes: this checkout first on the path."""
    env = dict(os.environ)
    paths = [REPO, os.path.join(REPO, 'policy')] + \
        ([env['PYTHONPATH']] if env.get('PYTHONPATH') else [])
    env['PYTHONPATH'] = os.pathsep.join(paths)
    env.setdefault('OMP_NUM_THREADS', str(max(1, torch.get_num_threads())))
    return env


def run_bounded(command: list, timeout_s: float) -> tuple:
    """Run ``command`` from the checkout; past ``timeout_s`` stop it and all its children.

    Returns:
        (exit code, or None when it was stopped; last line of its output).
    """
    proc = subprocess.Popen(command, cwd=REPO, env=_subprocess_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout_s)
        code = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # its own session: torchrun's workers too
        out, _ = proc.communicate()
        code = None
    lines = (out or '').strip().splitlines()
    return code, lines[-1] if lines else '(no output)'


def _train(section: Section, settings: Settings, tmp: str, name: str, launcher: list) -> None:
    """Run ``promptda-train`` through ``launcher``; add a steps/s row from its metrics."""
    folder, init = _train_inputs(settings, tmp)
    run = os.path.join(tmp, 'run_' + name)
    t = settings.train
    args = ['-m', 'promptda_ros.train.cli', '--data', folder, '--init', init, '--out', run,
            '--steps', str(t['steps']), '--batch-size', str(t['batch']), '--input-size',
            t['input'], '--prompt-hw', t['prompt'], '--val-every', '0', '--save-every',
            str(10 ** 6), '--log-every', '1', '--val-fraction', '0.2', '--quiet',
            '--device', settings.device.type, '--precision', 'auto']
    if settings.smoke:
        args += ['--beams', '16', '--vfov=-20,20']
    t0 = time.perf_counter()
    code, last_line = run_bounded(launcher + args, max(10.0, section.left_s()))
    wall = time.perf_counter() - t0
    records = []
    metrics = os.path.join(run, 'metrics.jsonl')
    if os.path.isfile(metrics):
        with open(metrics, encoding='utf-8') as f:
            records = [r for r in map(json.loads, f) if r.get('split') == 'train']
    if code is None:
        problem = '%s stopped at the section time cap (%.0f s) after %d steps' \
            % (name, section.cap_s, len(records))
        if len(records) < 3:
            raise RuntimeError(problem)
        section.skip('%s: steps after %d' % (name, len(records)), problem)
    elif code != 0:
        problem = '%s exited %d: %s' % (name, code, last_line)
        if len(records) < t['steps']:
            raise RuntimeError(problem)
        # Every step ran (e.g. only the curves plot needs matplotlib, absent): keep the figures.
        section.skip('%s: what follows the last step' % name, problem)
    # Steps after the first (allocation, cuDNN autotuning) are timed.
    first, last = records[0], records[-1]
    steps = last['step'] - first['step']
    rate = steps / (last['elapsed_s'] - first['elapsed_s']) if steps > 0 else math.nan
    section.row(run=name, steps=last['step'], batch_per_process=t['batch'],
                input=t['input'], steps_per_s=round(rate, 3), wall_s=round(wall, 1),
                final_loss=round(float(last['loss']), 5))


def run_train(section: Section, settings: Settings, tmp: str) -> None:
    """One short ``promptda-train`` run (bf16 autocast on CUDA, fp32 on the CPU)."""
    section.note('precision auto: %s on %s' % ('bf16' if settings.device.type == 'cuda'
                                               else 'fp32', settings.device.type))
    _train(section, settings, tmp, 'single', [sys.executable])


def run_torchrun(section: Section, settings: Settings, tmp: str) -> None:
    """``promptda-train`` under torchrun with 2 processes (NCCL), where 2 GPUs are visible."""
    device = settings.device
    if device.type == 'cuda' and torch.cuda.device_count() < 2:
        section.out['status'] = 'skipped'
        section.skip('2-process torchrun (NCCL)', '%d GPU visible; it needs 2'
                     % torch.cuda.device_count())
        return
    if device.type == 'cpu':
        section.out['status'] = 'skipped'
        section.skip('2-process torchrun', 'no GPU (the 2-process gloo run on the CPU is '
                     "test_train_cli's torchrun test)")
        return
    section.note('backend nccl')
    launcher = [sys.executable, '-m', 'torch.distributed.run', '--standalone',
                '--nproc_per_node', '2']
    _train(section, settings, tmp, 'torchrun_2', launcher)


def run_policy(section: Section, settings: Settings) -> None:
    """ACT-depth forward + backward steps/s (lerobot), else its depth backbone alone."""
    device = settings.device
    r = settings.policy
    try:
        from promptda_policy import ACTION_FEATURE, DEPTH_FEATURE, STATE_FEATURE
        from promptda_policy.modeling_act_depth import ACTDepthPolicy
        from promptda_policy.synthetic import make_config
    except ImportError as exc:
        section.skip('ACT-depth (transformer, action chunk loss)',
                     'lerobot does not import: ' + one_line(exc))
        _backbone_only(section, settings)
        return
    cfg = make_config(r['height'], r['width'], r['joints'], chunk_size=r['chunk_size'],
                      n_action_steps=r['chunk_size'], dim_model=r['dim_model'],
                      n_heads=r['n_heads'], dim_feedforward=r['dim_feedforward'],
                      n_encoder_layers=r['n_encoder_layers'],
                      n_decoder_layers=r['n_decoder_layers'], use_vae=r['use_vae'])
    cfg.device = device.type
    torch.manual_seed(0)
    policy = ACTDepthPolicy(cfg).to(device).train()
    optimiser = torch.optim.AdamW(policy.parameters(), lr=1e-4)
    b, c, j = r['batch'], r['chunk_size'], r['joints']
    batch = {DEPTH_FEATURE: torch.rand(b, 1, r['height'], r['width'], device=device),
             STATE_FEATURE: torch.randn(b, j, device=device),
             ACTION_FEATURE: torch.randn(b, c, j, device=device),
             'action_is_pad': torch.zeros(b, c, dtype=torch.bool, device=device)}

    figures = _time_training_step(lambda: policy.forward(batch)[0], optimiser, section,
                                  settings)
    section.row(model='ACT-depth', parameters=sum(p.numel() for p in policy.parameters()),
                depth='%dx%d' % (r['height'], r['width']), batch=b, chunk=c,
                steps_per_s=figures['fps'], p50_ms=figures['p50_ms'], runs=figures['runs'])


def _time_training_step(loss_fn, optimiser, section: Section, settings: Settings) -> dict:
    """Time forward + backward + optimiser step of ``loss_fn`` (a scalar loss tensor); figures."""
    def step():
        loss = loss_fn()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
    ms = time_calls(step, settings.device, settings.warmup, settings.policy_steps,
                    time.perf_counter() + section.left_s())
    return latency_figures(ms)


def _backbone_only(section: Section, settings: Settings) -> None:
    """Forward + backward of ACT-depth's visual backbone (ResNet18 on 1-channel depth)."""
    try:
        import torchvision
    except ImportError as exc:
        section.out['status'] = 'skipped'
        section.skip('ResNet18 depth backbone', 'torchvision does not import: ' + one_line(exc))
        return
    device = settings.device
    r = settings.policy
    torch.manual_seed(0)
    net = torchvision.models.resnet18(weights=None)
    net.conv1 = torch.nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
    net.fc = torch.nn.Identity()
    net = net.to(device).train()
    optimiser = torch.optim.AdamW(net.parameters(), lr=1e-4)
    depth = torch.rand(r['batch'], 1, r['height'], r['width'], device=device)

    figures = _time_training_step(lambda: net(depth).square().mean(), optimiser, section,
                                  settings)
    section.row(model='ResNet18 depth backbone only', parameters=sum(
        p.numel() for p in net.parameters()), depth='%dx%d' % (r['height'], r['width']),
        batch=r['batch'], chunk=None, steps_per_s=figures['fps'], p50_ms=figures['p50_ms'],
        runs=figures['runs'])


def machine_info(device: torch.device) -> dict:
    """Return what the figures were measured on."""
    info = {'python': platform.python_version(), 'torch': torch.__version__,
            'cuda': torch.version.cuda, 'device': str(device),
            'cpu': platform.processor() or platform.machine(), 'cpu_threads': os.cpu_count(),
            'torch_threads': torch.get_num_threads()}
    try:
        with open('/proc/cpuinfo', encoding='utf-8') as f:
            names = [ln.split(':', 1)[1].strip() for ln in f if ln.startswith('model name')]
        if names:
            info['cpu'] = names[0]
    except OSError:
        pass
    if device.type == 'cuda':
        props = torch.cuda.get_device_properties(device)
        info.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2 ** 30, 1),
                    gpus_visible=torch.cuda.device_count(),
                    cudnn=torch.backends.cudnn.version())
    for module in ('transformers', 'onnxruntime', 'torchvision', 'lerobot'):
        try:
            info[module] = __import__(module).__version__
        except ImportError:
            info[module] = None
    return info


def _cell(value) -> str:
    if value is None:
        return '-'
    if isinstance(value, float):
        return '%.6g' % value
    return str(value)


def to_markdown(report: dict) -> str:
    """Return the report as Markdown: machine, then one table per section."""
    meta = report['meta']
    lines = ['# Device check', '',
             '`%s` on %s (%s); total %.0f s%s.' % (
                 meta['command'], meta['machine'].get('gpu') or meta['machine']['cpu'],
                 meta['machine']['device'], meta['total_s'],
                 ', smoke sizes' if meta['smoke'] else ''), '',
             '| machine | |', '|---|---|']
    lines += ['| %s | %s |' % (k, _cell(v)) for k, v in meta['machine'].items()]
    for name in SECTIONS:
        sec = report['sections'][name]
        lines += ['', '## %s' % name, '',
                  'status **%s**, %.1f s of a %.0f s cap.'
                  % (sec['status'], sec['time_s'], sec['cap_s'])]
        if sec.get('error'):
            lines.append('error: %s' % sec['error'])
        lines += ['- %s' % n for n in sec['notes']]
        kinds = []
        for row in sec['rows']:
            if row.get('kind') not in kinds:
                kinds.append(row.get('kind'))
        for kind in kinds:  # one table per kind of row
            rows = [row for row in sec['rows'] if row.get('kind') == kind]
            keys = []
            for row in rows:
                keys += [k for k in row if k not in keys and k != 'kind']
            lines += ['', '| %s |' % ' | '.join(keys), '|%s' % ('---|' * len(keys))]
            lines += ['| %s |' % ' | '.join(_cell(row.get(k)) for k in keys) for row in rows]
        if sec['skipped']:
            lines += ['', 'Not measured:']
            lines += ['- %s: skipped: %s' % (s['what'], s['reason']) for s in sec['skipped']]
    return '\n'.join(lines) + '\n'


def parse_args(argv):
    """Command line of the check."""
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--device', default=None,
                   help="'cuda[:N]' or 'cpu' (default: cuda when available)")
    p.add_argument('--out', default='device_check',
                   help='folder for device_check.json / device_check.md (%(default)s)')
    p.add_argument('--smoke', action='store_true',
                   help='tiny sizes, a few iterations (the CI run, under a minute on a CPU)')
    p.add_argument('--sections', default=','.join(SECTIONS),
                   help='comma-separated subset of: %s' % ', '.join(SECTIONS))
    p.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    p.add_argument('--budget-s', type=float, default=480.0,
                   help='time for all sections together, s (%(default)s; --smoke: no limit)')
    return p.parse_args(argv)


def main(argv=None) -> int:
    """Run the check; return 0 when every section ran or was skipped with a reason, else 1."""
    args = parse_args(argv)
    wanted = [s.strip() for s in args.sections.split(',') if s.strip()]
    unknown = sorted(set(wanted) - set(SECTIONS))
    if unknown:
        print('error: unknown section(s) %s; known: %s' % (', '.join(unknown),
                                                           ', '.join(SECTIONS)),
              file=sys.stderr)
        return 2
    name = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    try:
        device = resolve_device(name)
    except DeviceError as exc:
        print('error: %s' % exc, file=sys.stderr)
        return 2
    if device.type == 'cuda' and device.index is None:
        device = torch.device('cuda', torch.cuda.current_device())
    if args.threads:
        torch.set_num_threads(args.threads)
    settings = Settings(args.smoke, device)
    report = {'meta': {'command': ' '.join(['python bench/device_check.py'] + list(
        argv if argv is not None else sys.argv[1:])), 'smoke': args.smoke,
        'machine': machine_info(device),
        'started': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}, 'sections': {}}
    runners = {'network': lambda s, tmp: run_network(s, settings),
               'onnx': lambda s, tmp: run_onnx(s, settings, tmp),
               'pipeline': lambda s, tmp: run_pipeline(s, settings, tmp),
               'train': lambda s, tmp: run_train(s, settings, tmp),
               'torchrun': lambda s, tmp: run_torchrun(s, settings, tmp),
               'policy': lambda s, tmp: run_policy(s, settings)}
    t_start = time.perf_counter()
    failed = False
    with tempfile.TemporaryDirectory(prefix='device_check_') as tmp:
        for sec_name in SECTIONS:
            left = args.budget_s - (time.perf_counter() - t_start)
            cap = settings.caps[sec_name] if args.smoke else \
                max(5.0, min(settings.caps[sec_name], left))
            section = Section(sec_name, cap)
            if sec_name not in wanted:
                section.out['status'] = 'skipped'
                section.skip(sec_name, 'not in --sections')
            else:
                print('[device_check] %s ...' % sec_name, file=sys.stderr, flush=True)
                try:
                    runners[sec_name](section, tmp)
                except Exception as exc:  # recorded in the report; the other sections run
                    section.out['status'] = 'error'
                    section.out['error'] = one_line(exc)
                    section.out['traceback'] = traceback.format_exc(limit=6)
                    failed = True
            section.out['time_s'] = round(time.perf_counter() - section.start, 1)
            report['sections'][sec_name] = section.out
            print('[device_check] %s: %s (%.1f s)' % (sec_name, section.out['status'],
                                                      section.out['time_s']),
                  file=sys.stderr, flush=True)
    report['meta']['total_s'] = round(time.perf_counter() - t_start, 1)
    os.makedirs(args.out, exist_ok=True)
    json_path = os.path.join(args.out, 'device_check.json')
    with open(json_path, 'w', encoding='utf-8') as f:
        json.dump(report, f, indent=1, allow_nan=True)
    md_path = os.path.join(args.out, 'device_check.md')
    with open(md_path, 'w', encoding='utf-8') as f:
        f.write(to_markdown(report))
    print('wrote %s and %s (%.0f s)' % (json_path, md_path, report['meta']['total_s']))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
