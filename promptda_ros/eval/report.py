# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""Evaluation reports: ``report.json``, ``report.md`` and PNG plots (matplotlib, Agg backend).

Plots written to the output folder:

* ``error_maps.png``   - for a few frames spread over the sequence: RGB, reference depth and the
  absolute error |d - g| of every method on one colour scale (metres);
* ``per_frame.png``    - per-frame L1, AbsRel, delta_0.5 and flicker curves, one line per method;
* ``error_hist.png``   - histogram of the signed error d - g over all valid pixels, per method.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

import numpy as np

from promptda_ros.eval.recon import RECON_KEYS


def _clean(obj: Any) -> Any:
    """Make ``obj`` JSON-safe: NaN / Inf -> None, numpy scalars -> Python."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_json(report: dict, path: str) -> None:
    """Write the report dict as strict JSON (NaN written as null)."""
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(_clean(report), f, indent=1, allow_nan=False)
        f.write('\n')


def _fmt(v, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return 'n/a'
    return f'{v:.{digits}f}'


def markdown(report: dict) -> str:
    """Render the report as Markdown tables (paper-style rows per method)."""
    ds = report.get('dataset', {})
    cfg = report.get('config', {})
    lines = ['# Depth evaluation report', '']
    lines.append(f"Input: `{ds.get('input', '?')}` ({ds.get('kind', '?')}), "
                 f"{ds.get('n_frames', 0)} frames, image {ds.get('image_size', '?')}, "
                 f"prompt {ds.get('prompt_size', '?')}.  Depth range "
                 f"[{cfg.get('min_depth')}, {cfg.get('max_depth')}] m.  Aggregates are the mean "
                 'of per-frame metrics.')
    if ds.get('reference'):
        lines += ['', f"Reference: {ds['reference']}."]
    lines += ['', '## Depth accuracy', '',
              '| Method | L1 (m) ↓ | RMSE (m) ↓ | AbsRel ↓ | δ0.5 ↑ | δ1 ↑ | MAE (mm) ↓ | '
              'RMSE (mm) ↓ | iMAE (1/km) ↓ | iRMSE (1/km) ↓ | Flicker (m) ↓ | Coverage | '
              'Time (ms) |',
              '|' + '---|' * 13]
    for name, m in report['methods'].items():
        a = m['aggregate']
        lines.append('| ' + ' | '.join(
            [name, _fmt(a.get('l1'), 4), _fmt(a.get('rmse'), 4), _fmt(a.get('absrel'), 4),
             _fmt(a.get('delta_0.5')), _fmt(a.get('delta_1')), _fmt(a.get('mae_mm'), 1),
             _fmt(a.get('rmse_mm'), 1), _fmt(a.get('imae_1_km'), 2),
             _fmt(a.get('irmse_1_km'), 2), _fmt(a.get('flicker'), 4),
             _fmt(a.get('coverage')), _fmt(a.get('runtime_ms'), 1)]) + ' |')
    if any('fscore' in m['aggregate'] for m in report['methods'].values()):
        tau = cfg.get('recon_tau', 0.05)
        lines += ['', f'## 3-D reconstruction (TSDF voxel {cfg.get("voxel")} m, '
                  f'threshold {tau} m)', '',
                  '| Method | Acc (m) ↓ | Comp (m) ↓ | Prec ↑ | Recall ↑ | F-score ↑ |',
                  '|---|---|---|---|---|---|']
        for name, m in report['methods'].items():
            a = m['aggregate']
            if 'fscore' in a:
                lines.append('| ' + ' | '.join(
                    [name] + [_fmt(a.get(k), 4) for k in RECON_KEYS]) + ' |')
    notes = report.get('notes', [])
    if notes:
        lines += ['', '## Notes', ''] + [f'- {n}' for n in notes]
    plots = report.get('plots', [])
    if plots:
        lines += ['', '## Plots', ''] + [f'![{p}]({p})' for p in plots]
    return '\n'.join(lines) + '\n'


def write_markdown(report: dict, path: str) -> None:
    """Write :func:`markdown` to ``path``."""
    with open(path, 'w', encoding='utf-8') as f:
        f.write(markdown(_clean(report)))


class ErrorMapKeeper:
    """Keep downsampled error maps of up to ~``keep`` frames spread evenly over a sequence.

    Frames are kept at a stride that doubles whenever the buffer holds ``2 * keep`` entries, so
    memory stays bounded for sequences of unknown length.
    """

    def __init__(self, keep: int = 3, max_width: int = 320) -> None:
        self.keep = max(1, int(keep))
        self.max_width = int(max_width)
        self.step = 1
        self.items: list[dict] = []
        self._count = 0

    def _small(self, img: np.ndarray) -> np.ndarray:
        import cv2

        h, w = img.shape[:2]
        if w <= self.max_width:
            return img.copy()
        f = self.max_width / w
        return cv2.resize(img, (self.max_width, max(1, round(h * f))),
                          interpolation=cv2.INTER_NEAREST)

    def offer(self, name: str, rgb: np.ndarray, gt_m: np.ndarray,
              preds: dict[str, np.ndarray]) -> None:
        """Offer one frame: rgb (H, W, 3) uint8, gt_m / preds (H, W) float32 metres."""
        i = self._count
        self._count += 1
        if i % self.step:
            return
        with np.errstate(invalid='ignore'):
            errs = {k: self._small(np.abs(v - gt_m).astype(np.float32))
                    for k, v in preds.items()}
        self.items.append({'name': name, 'rgb': self._small(rgb), 'gt': self._small(gt_m),
                           'err': errs})
        if len(self.items) >= 2 * self.keep:
            self.items = self.items[::2]
            self.step *= 2

    def selected(self) -> list[dict]:
        """Return about ``keep`` stored frames spread over the sequence."""
        if len(self.items) <= self.keep:
            return list(self.items)
        idx = np.linspace(0, len(self.items) - 1, self.keep).round().astype(int)
        return [self.items[i] for i in sorted(set(idx.tolist()))]


def _plt():
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    return plt


def plot_error_maps(keeper: ErrorMapKeeper, path: str) -> str | None:
    """Write the error-map grid (rows = frames; RGB, reference, |error| per method)."""
    items = keeper.selected()
    if not items:
        return None
    plt = _plt()
    methods = list(items[0]['err'])
    errs = np.concatenate([it['err'][m][np.isfinite(it['err'][m])].ravel()
                           for it in items for m in methods] + [np.zeros(1)])
    vmax = max(float(np.percentile(errs, 95)), 1e-3)
    gts = np.concatenate([it['gt'][np.isfinite(it['gt'])].ravel() for it in items]
                         + [np.zeros(1)])
    gmax = max(float(np.percentile(gts, 99)), 1e-3)
    ncol = 2 + len(methods)
    fig, axes = plt.subplots(len(items), ncol, figsize=(2.6 * ncol, 2.1 * len(items) + 0.6),
                             squeeze=False, layout='constrained')
    for r, it in enumerate(items):
        axes[r, 0].imshow(it['rgb'])
        axes[r, 0].set_ylabel(f"frame {it['name']}", fontsize=7)
        im_g = axes[r, 1].imshow(it['gt'], cmap='turbo', vmin=0.0, vmax=gmax)
        for c, m in enumerate(methods):
            im_e = axes[r, 2 + c].imshow(it['err'][m], cmap='magma', vmin=0.0, vmax=vmax)
            if r == 0:
                axes[r, 2 + c].set_title(f'|err| {m}', fontsize=8)
        if r == 0:
            axes[r, 0].set_title('RGB', fontsize=8)
            axes[r, 1].set_title('reference depth', fontsize=8)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(im_g, ax=axes[:, 1].tolist(), shrink=0.8, label='depth (m)')
    fig.colorbar(im_e, ax=axes[:, 2:].ravel().tolist(), shrink=0.8, label='|error| (m)')
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def plot_per_frame(report: dict, path: str) -> str | None:
    """Write per-frame curves of L1, AbsRel, delta_0.5 and flicker for every method."""
    plt = _plt()
    keys = [('l1', 'L1 (m)'), ('absrel', 'AbsRel'), ('delta_0.5', 'δ0.5'),
            ('flicker', 'flicker (m)')]
    fig, axes = plt.subplots(len(keys), 1, figsize=(8, 2.0 * len(keys)), sharex=True)
    for name, m in report['methods'].items():
        frames = m['frames']
        x = [f['index'] for f in frames]
        for ax, (k, label) in zip(axes, keys):
            y = [np.nan if f.get(k) is None else f[k] for f in frames]
            ax.plot(x, y, marker='.', label=name)
            ax.set_ylabel(label, fontsize=8)
    axes[0].legend(fontsize=7, ncol=3)
    axes[-1].set_xlabel('frame index')
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def plot_histograms(hists: dict[str, tuple[np.ndarray, np.ndarray]], path: str) -> str | None:
    """Write signed-error histograms: {method: (edges (B+1,), counts (B,))}, metres."""
    if not hists:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 3.5))
    for name, (edges, counts) in hists.items():
        total = max(int(counts.sum()), 1)
        centres = 0.5 * (edges[1:] + edges[:-1])
        ax.plot(centres, counts / total, label=name)
    ax.set_xlabel('signed error d - g (m)')
    ax.set_ylabel('fraction of pixels per bin')
    ax.set_yscale('log')
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def ensure_dir(path: str) -> None:
    """Create the output folder (and parents)."""
    os.makedirs(path, exist_ok=True)
