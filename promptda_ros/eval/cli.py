# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""``promptda-eval``: evaluate depth methods on a ROS 2 bag or a folder of aligned frames."""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
import time
from typing import Any, Sequence

import numpy as np

from promptda_ros.cli_args import hw_arg, topics_arg
from promptda_ros.core.errors import InputError, PromptDAError
from promptda_ros.core.holdout import check_fraction
from promptda_ros.core.pointcloud import write_ply
from promptda_ros.eval import report as rep
from promptda_ros.eval.dataset import open_input, strided
from promptda_ros.eval.methods import (
    all_method_names,
    default_methods,
    MethodRunner,
    parse_method,
    RELATIVE_SOURCES,
)
from promptda_ros.eval.metrics import (
    aggregate_frames,
    depth_metrics,
    METRIC_KEYS,
    MetricAccumulator,
    valid_mask,
)
from promptda_ros.eval.recon import RECON_KEYS
from promptda_ros.eval.temporal import flicker
from promptda_ros.params_file import offline_settings, OfflineSettings, read_params_file

DESCRIPTION = """\
Evaluate metric depth methods against reference depth and write report.json, report.md and
PNG plots to --out.

INPUT is a ROS 2 bag folder (sqlite3 .db3 or .mcap; camera image + camera_info, LiDAR points
and/or a low-res depth image as prompt, a reference depth topic, /tf for the trajectory) or a
folder of aligned frames:
  rgb/<stem>.png   prompt/<stem>.png (uint16 mm) | .npy (float32 m)   gt/<stem>.png | .npy
  intrinsics.json {"fx","fy","cx","cy","width","height"}   optional poses.txt
  ("<stem> tx ty tz qx qy qz qw", camera optical frame -> world, metres).

Methods (comma separated; default: every method that can run):
  default                    weights-free RGB-guided completion of the prompt
  bilinear                   bilinear upsampling of the prompt (paper's "ARKit depth" row)
  promptda                   the PromptDA network (needs --checkpoint)
  ransac_<src>, lstsq_<src>  relative depth aligned to the prompt by RANSAC scale/shift
                             (PromptDA supp. C.5) or least squares, <src> one of
                             disk (maps in --relative-dir), promptda_noprompt (the network
                             with an uninformative prompt; needs --checkpoint) or bag (the
                             bag's /camera/relative_depth topic; run by default when present)
  starrygazer                relative depth refined with the prompt by weights trained without
                             ground truth (promptda-adapt; needs --starrygazer WEIGHTS)

Metrics (metres unless named): l1, rmse, absrel, delta_0.5 (δ<1.25^0.5), delta_1 (δ<1.25),
mae_mm, rmse_mm, imae_1_km, irmse_1_km on reference pixels that are finite, > 0 and inside
[--min-depth, --max-depth]; aggregate = mean over frames.
flicker = mean |Δprediction − Δreference| over static pixels of consecutive evaluated
frames (warped with poses when available).  3-D reconstruction: TSDF fusion of each method
and of the reference along the trajectory, acc / comp (m), prec / recall / fscore at
--recon-tau.

Held-out evaluation (--holdout FRACTION, no reference depth needed): each frame's measured
points (LiDAR points of the sweep, or cells of the depth prompt) are split at random (seeded
by --holdout-seed); every method gets the rest as its prompt and is scored at the held-out
ones, projected into the image (nearest per pixel).  How a robot owner compares methods on
their own robot's recordings.

Exit status: 0 on success, 2 on bad arguments, unreadable input or a run in which no frame
could be scored (one-line reason on stderr).
"""


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of promptda-eval."""
    p = argparse.ArgumentParser(prog='promptda-eval', description=DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('input', metavar='BAG_OR_DIR', help='ROS 2 bag folder or frame folder')
    p.add_argument('--out', required=True, metavar='DIR',
                   help='output folder for report.json, report.md and plots (created)')
    p.add_argument('--methods', default=None,
                   help='comma-separated method names (default: all that can run); known: '
                   + ', '.join(all_method_names()))
    p.add_argument('--checkpoint', default=None,
                   help='PromptDA checkpoint: official model.ckpt, .safetensors or -hf folder')
    p.add_argument('--encoder', default=None,
                   help='PromptDA encoder (vits, vitb, vitl); default: from the checkpoint')
    p.add_argument('--input-size', type=hw_arg, default=None, metavar='HxW',
                   help='PromptDA network input size (multiples of 14); default: the '
                   "backend's (long side 504)")
    p.add_argument('--min-depth', type=float, default=0.0,
                   help='ignore reference depth below this, metres (default 0: all > 0)')
    p.add_argument('--max-depth', type=float, default=10.0,
                   help='ignore reference depth above this, metres; also the TSDF depth '
                   'truncation (default 10)')
    p.add_argument('--max-frames', type=int, default=None,
                   help='evaluate at most N frames (after --stride)')
    p.add_argument('--stride', type=int, default=1,
                   help='evaluate every N-th input frame (default 1)')
    p.add_argument('--relative-dir', default=None,
                   help='folder of relative depth maps for ransac_disk / lstsq_disk: '
                   '<frame>.npy|png, frame = file stem (folders), stamp in ns (bags) or '
                   'the 6-digit input index')
    p.add_argument('--relative-space', choices=('inverse', 'depth'), default='inverse',
                   help='what --relative-dir maps hold: inverse = relative disparity '
                   '(Depth Anything), depth = affine-invariant depth (default inverse)')
    p.add_argument('--starrygazer', default=None, metavar='WEIGHTS',
                   help='StarryGazer refinement weights (.safetensors from promptda-adapt) for '
                   'the starrygazer method')
    p.add_argument('--starrygazer-relative', default='bag',
                   choices=RELATIVE_SOURCES,
                   help="relative depth the starrygazer method refines (default 'bag': the "
                   "bag's relative-depth topic)")
    p.add_argument('--prompt-source', choices=('auto', 'lidar', 'depth_image'), default='auto',
                   help='bags: project the LiDAR sweep (lidar) or use the low-res depth topic '
                   '(depth_image); auto = LiDAR when present (default)')
    p.add_argument('--prompt-size', type=hw_arg, default=(192, 256), metavar='HxW',
                   help='bags: prompt grid for projected LiDAR (default 192x256)')
    p.add_argument('--topics', type=topics_arg, default={}, metavar='KEY=TOPIC,...',
                   help='bags: topic overrides passed to the bag reader as KEY_topic, e.g. '
                   'image=/cam/image_raw,depth_gt=/cam/depth')
    p.add_argument('--poses', default=None, metavar='FILE',
                   help='camera trajectory overriding the bag /tf or the folder poses.txt '
                   '(bags: "stamp_s tx ty tz qx qy qz qw"; folders: "stem tx ty tz qx qy qz qw")')
    p.add_argument('--holdout', type=float, default=None, metavar='FRACTION',
                   help="score at held-out measurements instead of a reference: hold out this "
                   "share (0..1, e.g. 0.2) of each frame's LiDAR points or prompt cells; the "
                   'methods get the rest (no reference depth needed; no 3-D reconstruction)')
    p.add_argument('--holdout-seed', type=int, default=0, metavar='N',
                   help='seed of the held-out choice, the same for every frame (default 0)')
    p.add_argument('--no-recon', action='store_true', help='skip the TSDF 3-D reconstruction')
    p.add_argument('--voxel', type=float, default=0.04, help='TSDF voxel size, m (0.04)')
    p.add_argument('--sdf-trunc', type=float, default=0.12, help='TSDF truncation, m (0.12)')
    p.add_argument('--recon-tau', type=float, default=0.05,
                   help='precision / recall distance threshold, m (0.05)')
    p.add_argument('--save-recon', action='store_true',
                   help='also write recon_<method>.ply point clouds of the fused surfaces')
    p.add_argument('--plot-frames', type=int, default=3,
                   help='frames shown in error_maps.png (default 3)')
    p.add_argument('--no-plots', action='store_true', help='do not write PNG plots')
    p.add_argument('--params-file', default=None, metavar='YAML',
                   help="the perception node's params file (e.g. config/perception.yaml): the "
                        'bag is paired (slop_s, lidar_cache_size) and the backend methods run '
                        '(prompt grid, fill, depth range, output size) as the node does, so '
                        'the scored depth is the published depth; it replaces --prompt-size')
    return p


def _has_relative_topic(args) -> bool:
    """Whether the input is a bag carrying a relative-depth topic."""
    from promptda_ros import bagio
    from promptda_ros.core.errors import InputError

    if os.path.isdir(os.path.join(args.input, 'rgb')):
        return False
    topic = dict(args.topics).get('relative_topic', bagio.RELATIVE_TOPIC)
    try:
        return topic in bagio.bag_topics(args.input)
    except InputError:
        return False  # open_input reports what is wrong with the input


def _select_methods(args) -> list[str]:
    if args.methods is None:
        return default_methods(args.checkpoint, args.relative_dir,
                               relative_in_input=_has_relative_topic(args),
                               starrygazer=args.starrygazer)
    names = [n.strip() for n in args.methods.split(',') if n.strip()]
    for n in names:
        parse_method(n)  # raises InputError naming the unknown method
    return names


def _check_args(args) -> None:
    from promptda_ros.core.errors import InputError

    if not (math.isfinite(args.min_depth) and args.min_depth >= 0):
        raise InputError(f'--min-depth must be >= 0, got {args.min_depth}')
    if not (math.isfinite(args.max_depth) and args.max_depth > args.min_depth):
        raise InputError(f'--max-depth ({args.max_depth}) must be finite and exceed --min-depth '
                         f'({args.min_depth})')
    if args.max_frames is not None and args.max_frames < 1:
        raise InputError(f'--max-frames must be >= 1, got {args.max_frames}')
    if args.stride < 1:
        raise InputError(f'--stride must be >= 1, got {args.stride}')
    if args.plot_frames < 1:
        raise InputError(f'--plot-frames must be >= 1, got {args.plot_frames} (--no-plots '
                         'writes no plot)')
    if args.holdout is not None:
        try:
            check_fraction(args.holdout)
        except InputError as exc:
            raise InputError(f'--holdout: {exc}') from None
    for flag in ('voxel', 'sdf_trunc', 'recon_tau'):
        if not getattr(args, flag) > 0:
            raise InputError(f'--{flag.replace("_", "-")} must be > 0')


def _unscored_reason(fr, entries: dict[str, dict], rng: tuple[float, float]) -> str:
    """Say why no method could be scored on frame ``fr`` (its per-method metric entries)."""
    if fr.n_heldout == 0:
        return f'frame {fr.name}: no held-out measurement lands in the image'
    if not valid_mask(fr.gt_m, *rng).any():
        with np.errstate(invalid='ignore'):
            ref = fr.gt_m[np.isfinite(fr.gt_m) & (fr.gt_m > 0)]
        spans = (f'the reference spans {ref.min():.4g}..{ref.max():.4g} m' if ref.size
                 else 'the reference has no valid pixel')
        return (f'frame {fr.name}: no reference depth inside --min-depth..--max-depth '
                f'{rng[0]:g}..{rng[1]:g} m ({spans})')
    for name, entry in entries.items():
        if 'error' in entry:
            return f"frame {fr.name}: {name}: {entry['error']}"
    return f'frame {fr.name}: no method has a finite depth at a reference pixel'


def _heldout_text(fraction: float, seed: int, counts: list[int]) -> str:
    """Describe a held-out reference: fraction, seed and held-out measurements per frame."""
    return (f'held-out measurements, {100 * fraction:g} % of the measured points of each '
            f'frame (seed {seed}); the methods get the rest; {np.mean(counts):.0f} held-out '
            f'points per frame in the image (min {min(counts)}, max {max(counts)})')


class _MethodState:
    """Per-method accumulators."""

    def __init__(self) -> None:
        self.frames: list[dict] = []
        self.pooled = MetricAccumulator()
        self.prev: np.ndarray | None = None
        self.fusion: Any = None  # TSDFFusion while reconstructing
        self.errors = 0


class _Scoring:
    """Scores every method frame by frame; flicker and the TSDF reconstructions as it goes."""

    def __init__(self, args, names: list[str], holdout: tuple[float, int] | None) -> None:
        self.args, self.names = args, names
        self.rng = (args.min_depth, args.max_depth)
        self.states = {n: _MethodState() for n in names}
        self.keeper = rep.ErrorMapKeeper(keep=max(1, args.plot_frames))
        self.notes: list[str] = []
        self.recon_on = not args.no_recon and holdout is None
        if holdout is not None and not args.no_recon:
            self.notes.append('held-out evaluation: no 3-D reconstruction (the reference is '
                              'sparse)')
        self.unscored: list[str] = []  # why, for each frame no method could be scored on
        self.heldout_counts: list[int] = []
        self.ref_fusion: Any = None  # TSDFFusion of the reference depth while reconstructing
        self.prev_frame: Any = None  # EvalFrame
        self.first: Any = None  # EvalFrame
        self.n = 0

    def _fusions(self, fr) -> None:
        """Start, stop or feed the reference reconstruction for frame ``fr``."""
        if self.recon_on and fr.T_world_cam is None:
            self.notes.append(f'frame {fr.name} has no camera pose: 3-D reconstruction skipped '
                              '(give --poses or record /tf)')
            self.recon_on = False
            self.ref_fusion = None
            for st in self.states.values():
                st.fusion = None
        if self.recon_on and self.ref_fusion is None:
            from promptda_ros.eval.recon import TSDFFusion

            args = self.args
            self.ref_fusion = TSDFFusion(args.voxel, args.sdf_trunc, depth_trunc=args.max_depth)
            for st in self.states.values():
                st.fusion = TSDFFusion(args.voxel, args.sdf_trunc, depth_trunc=args.max_depth)
        if self.recon_on:
            self.ref_fusion.integrate(fr.gt_m, fr.camera, fr.T_world_cam)

    def _entry(self, fr, name: str, pred: np.ndarray, runtime_ms: float, error: str | None,
               posed: bool) -> dict:
        """Score method ``name``'s (H, W) float32 metres prediction on ``fr``; accumulate it."""
        st, rng, prev_frame = self.states[name], self.rng, self.prev_frame
        st.pooled.add(pred, fr.gt_m, *rng)
        entry = {'index': fr.index, 'name': fr.name, 'stamp_ns': fr.stamp_ns,
                 **depth_metrics(pred, fr.gt_m, *rng), 'runtime_ms': runtime_ms,
                 'flicker': None, 'flicker_pixels': 0}
        if fr.n_heldout is not None:
            entry['n_heldout'] = fr.n_heldout
        if error is not None:
            entry['error'] = error
            st.errors += 1
        if st.prev is not None and st.prev.shape == pred.shape:
            entry['flicker'], entry['flicker_pixels'] = flicker(
                st.prev, pred, prev_frame.gt_m, fr.gt_m, fr.camera,
                prev_frame.T_world_cam if posed else None, fr.T_world_cam if posed else None,
                *rng)
        st.frames.append(entry)
        st.prev = pred
        if self.recon_on:
            st.fusion.integrate(pred, fr.camera, fr.T_world_cam)
        return entry

    def add(self, fr, preds: dict, times: dict, errors: dict) -> None:
        """Score one frame's predictions (name -> (H, W) float32 metres)."""
        self.first = fr if self.first is None else self.first
        posed = fr.T_world_cam is not None and (self.prev_frame is None
                                                or self.prev_frame.T_world_cam is not None)
        self._fusions(fr)
        if fr.n_heldout is not None:
            self.heldout_counts.append(fr.n_heldout)
        entries = {name: self._entry(fr, name, preds[name], times[name], errors.get(name),
                                     posed) for name in self.names}
        if not any(e['n_valid'] > 0 for e in entries.values()):
            self.unscored.append(_unscored_reason(fr, entries, self.rng))
        self.keeper.offer(fr.name, fr.rgb, fr.gt_m, preds)
        self.prev_frame = fr
        self.n += 1

    def check(self, source: str, skipped: list[str]) -> None:
        """Raise when nothing could be scored; note skipped and unscored frames."""
        n, unscored = self.n, self.unscored
        if skipped:
            self.notes.append(f'{len(skipped)} input frame(s) skipped, first: {skipped[0]}')
        if n == 0:
            why = f' ({len(skipped)} skipped, first: {skipped[0]})' if skipped else ''
            raise InputError(f'{source} yielded no frame to evaluate{why}')
        if len(unscored) == n:
            raise InputError(f'no frame could be scored ({n} evaluated); {unscored[0]}')
        if unscored:
            self.notes.append(f'{len(unscored)} of {n} frames could not be scored, first: '
                              f'{unscored[0]}')

    def _aggregate(self, name: str, recon_ref: np.ndarray) -> dict:
        st, args = self.states[name], self.args
        agg = aggregate_frames(st.frames, METRIC_KEYS)
        covs = [f['coverage'] for f in st.frames if math.isfinite(f['coverage'])]
        agg['coverage'] = float(np.mean(covs)) if covs else math.nan
        fl = [f['flicker'] for f in st.frames
              if f['flicker'] is not None and math.isfinite(f['flicker'])]
        agg['flicker'] = float(np.mean(fl)) if fl else math.nan
        agg['runtime_ms'] = float(np.mean([f['runtime_ms'] for f in st.frames]))
        agg['n_failed'] = st.errors
        if st.errors:
            why = next(f['error'] for f in st.frames if 'error' in f)
            self.notes.append(f'{name} failed on {st.errors} of {self.n} frames, first: {why} '
                              '(see frames[].error)')
        if self.recon_on:
            from promptda_ros.eval.recon import recon_scores

            pts = st.fusion.extract_points()
            agg.update({k: v for k, v in recon_scores(pts, recon_ref, args.recon_tau).items()
                        if k in RECON_KEYS or k in ('n_pred', 'n_ref')})
            if args.save_recon:
                write_ply(os.path.join(args.out, f'recon_{name}.ply'), pts.astype(np.float32))
        return {'aggregate': agg, 'pooled': st.pooled.result(), 'frames': st.frames}

    def results(self) -> dict:
        """Return ``{method: {'aggregate', 'pooled', 'frames'}}`` (reconstructions scored)."""
        recon_ref = np.zeros((0, 3))  # (N, 3) metres: the reference surface points
        if self.recon_on:
            recon_ref = self.ref_fusion.extract_points()
            if recon_ref.shape[0] == 0:
                self.notes.append('reference reconstruction is empty: 3-D scores skipped')
                self.recon_on = False
        out = {name: self._aggregate(name, recon_ref) for name in self.names}
        if self.recon_on and self.args.save_recon:
            write_ply(os.path.join(self.args.out, 'recon_reference.ply'),
                      recon_ref.astype(np.float32))
        return out


def _config(args, names: list[str], holdout, wall: float, recon_on: bool,
            settings: OfflineSettings | None) -> dict:
    """Return the report's 'config' section."""
    return {'methods': names, 'min_depth': args.min_depth, 'max_depth': args.max_depth,
            'stride': args.stride, 'max_frames': args.max_frames,
            'checkpoint': args.checkpoint, 'encoder': args.encoder,
            'input_size': args.input_size,
            'relative_dir': args.relative_dir, 'relative_space': args.relative_space,
            'starrygazer': args.starrygazer,
            'starrygazer_relative': args.starrygazer_relative,
            'holdout': None if holdout is None else {'fraction': holdout[0],
                                                     'seed': holdout[1]},
            'params_file': args.params_file,
            'pipeline': None if settings is None else dataclasses.asdict(settings.pipeline),
            'recon': recon_on, 'voxel': args.voxel, 'sdf_trunc': args.sdf_trunc,
            'recon_tau': args.recon_tau, 'units': 'metres',
            'aggregate': 'mean of per-frame metrics over frames with valid pixels; '
                         "'pooled' weighs every valid pixel equally",
            'wall_time_s': wall}


def node_settings(params_file: str | None) -> OfflineSettings | None:
    """Return the pipeline and pairing settings of the node's params file (None: no file).

    Raises:
        InputError: the file cannot be read or holds an invalid pipeline value.
    """
    return None if params_file is None else offline_settings(read_params_file(params_file))


def evaluate(args, progress: bool = True) -> dict:
    """Run the evaluation described by parsed ``args``; return the report dict (also written).

    With ``args.params_file`` the bag is paired and every backend method runs with the node's
    parameters (:func:`node_settings`), so the scored depth is the depth the node publishes.

    Raises:
        PromptDAError: bad options or input (names the problem).
        OSError: the output folder cannot be written.

    """
    from tqdm import tqdm

    _check_args(args)
    names = _select_methods(args)
    settings = node_settings(args.params_file)
    skipped: list[str] = []
    holdout = None if args.holdout is None else (args.holdout, args.holdout_seed)
    pipeline: dict[str, Any] = {} if settings is None else {
        'config': settings.pipeline, 'pairing': settings.pairing()}
    frames = strided(open_input(args.input, prompt_source=args.prompt_source,
                                prompt_hw=args.prompt_size, poses_path=args.poses,
                                topics=args.topics, skipped=skipped, holdout=holdout,
                                **pipeline),
                     args.stride, args.max_frames)
    runner = MethodRunner(names, checkpoint=args.checkpoint, encoder=args.encoder,
                          relative_dir=args.relative_dir, relative_space=args.relative_space,
                          input_size=args.input_size, starrygazer=args.starrygazer,
                          starrygazer_relative=args.starrygazer_relative,
                          config=pipeline.get('config'))
    rep.ensure_dir(args.out)
    scoring = _Scoring(args, names, holdout)
    kind = 'folder' if os.path.isdir(os.path.join(args.input, 'rgb')) else 'bag'
    t_start = time.perf_counter()
    for fr in tqdm(frames, desc='promptda-eval', unit='frame', total=args.max_frames,
                   disable=None if progress else True):
        scoring.add(fr, *runner.run(fr))
    scoring.check(args.input, skipped)
    wall = time.perf_counter() - t_start
    methods_out = scoring.results()
    first, n = scoring.first, scoring.n
    H, W = first.rgb.shape[:2]
    ph, pw = first.prompt_m.shape
    report = {
        'methods': methods_out,
        'dataset': {'input': os.path.abspath(args.input), 'kind': kind, 'n_frames': n,
                    'image_size': f'{W}x{H}', 'prompt_size': f'{pw}x{ph}',
                    'has_poses': first.T_world_cam is not None,
                    'prompt_source': args.prompt_source if kind == 'bag' else 'prompt/',
                    'reference': ('reference depth' if holdout is None else
                                  _heldout_text(*holdout, scoring.heldout_counts))},
        'config': _config(args, names, holdout, wall, scoring.recon_on, settings),
        'notes': scoring.notes,
        'plots': [],
    }
    if not args.no_plots:
        plots = [rep.plot_error_maps(scoring.keeper, os.path.join(args.out, 'error_maps.png')),
                 rep.plot_per_frame(report, os.path.join(args.out, 'per_frame.png')),
                 rep.plot_histograms({k: (s.pooled.hist_edges, s.pooled.hist_counts)
                                      for k, s in scoring.states.items()},
                                     os.path.join(args.out, 'error_hist.png'))]
        report['plots'] = [os.path.basename(p) for p in plots if p]
    rep.write_json(report, os.path.join(args.out, 'report.json'))
    rep.write_markdown(report, os.path.join(args.out, 'report.md'))
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point of ``promptda-eval``; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        report = evaluate(args)
    except (PromptDAError, OSError) as exc:
        msg = str(exc).replace('\n', ' ')
        print(f'error: {msg}', file=sys.stderr)
        return 2
    if args.holdout is not None:
        print(report['dataset']['reference'])
    for name, m in report['methods'].items():
        a = m['aggregate']
        extra = f"  F-score {a['fscore']:.3f}" if 'fscore' in a else ''
        print(f"{name:28s} L1 {a['l1']:.4f} m  AbsRel {a['absrel']:.4f}  "
              f"δ0.5 {a['delta_0.5']:.3f}  flicker {a['flicker']:.4f} m{extra}")
    for note in report['notes']:
        print(f'note: {note}')
    print(f"report: {os.path.join(args.out, 'report.md')}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
