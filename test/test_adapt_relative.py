# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""StarryGazer building blocks.

The sample's simulated monocular map, relative sources, pair synthesis and the refinement
weights format.
"""

import dataclasses

import numpy as np
import pytest
from safetensors.torch import save_file
import torch

from promptda_ros.adapt.synthesis import corrupt, frame_base, MODES, SynthesisConfig, synthesize
from promptda_ros.backends import make_backend
from promptda_ros.backends.relative import (
    BagRelative,
    DiskRelative,
    fit_to_image,
    make_relative_source,
    normalise_relative,
    relative_for,
)
from promptda_ros.backends.starrygazer_net import (
    CUE,
    GATE,
    LIDAR,
    load_refiner,
    RefineConfig,
    RefineNet,
    RESIDUAL,
    save_refiner,
)
from promptda_ros.backends.starrygazer_refiner import (
    LidarOnly,
    prepare,
    sparse_to_grid,
    StarryGazer,
)
from promptda_ros.bagio import read_frames, RELATIVE_TOPIC
from promptda_ros.core.errors import CheckpointError, InputError
from promptda_ros.eval.dataset import read_bag
from promptda_ros.pipeline import DepthPipeline, PipelineConfig, prompt_from_depth
from promptda_ros.sample.scene import SampleGenerator

from test_adapt_helpers import TINY, tiny_sample, tiny_weights


def test_sample_relative_map_is_seeded_and_distorted_like_a_monocular_model(tmp_path_factory):
    """Same seed -> same map; ordered like 1/depth, but no affine map of it fits the truth."""
    a = SampleGenerator(seed=4, frames=2, width=96, height=72).frame(1)
    b = SampleGenerator(seed=4, frames=2, width=96, height=72).frame(1)
    c = SampleGenerator(seed=5, frames=2, width=96, height=72).frame(1)
    assert a.relative.dtype == np.float32 and a.relative.shape == (72, 96)
    assert np.array_equal(a.relative, b.relative) and not np.array_equal(a.relative, c.relative)
    assert np.all(a.relative > 0)
    # larger = nearer: strongly anti-correlated with depth (rank correlation)
    ra = np.argsort(np.argsort(a.relative.ravel()))
    rd = np.argsort(np.argsort(a.depth_gt_m.ravel()))
    assert np.corrcoef(ra, rd)[0, 1] < -0.8
    # the other sensors do not depend on the relative map
    plain = SampleGenerator(seed=4, frames=2, width=96, height=72).frame(1, relative=False)
    assert plain.relative is None and np.array_equal(plain.rgb, a.rgb)
    assert np.array_equal(plain.points_lidar, a.points_lidar)
    # an exact inverse affine fit on the ground truth leaves a clear error (per-object errors)
    inv = 1.0 / a.depth_gt_m.astype(np.float64)
    A = np.stack([a.relative.ravel(), np.ones(a.relative.size)], axis=1)
    coef, *_ = np.linalg.lstsq(A, inv.ravel(), rcond=None)
    fitted = 1.0 / (A @ coef).reshape(inv.shape)
    assert np.mean(np.abs(fitted - a.depth_gt_m)) > 0.03

    bag = tiny_sample(tmp_path_factory)
    frames = list(read_frames(bag))
    assert all(f.relative is not None and f.relative.shape == f.rgb.shape[:2] for f in frames)
    assert all(f.relative is None for f in read_frames(bag, relative_topic=None))


def test_relative_sources_and_checks(tmp_path_factory, tmp_path):
    bag = tiny_sample(tmp_path_factory)
    fr = next(iter(read_bag(bag)))
    assert np.array_equal(relative_for(BagRelative(), fr), fr.relative.astype(np.float64))
    with pytest.raises(InputError, match=RELATIVE_TOPIC):
        BagRelative()(type(fr)(**{**vars(fr), 'relative': None}))
    np.save(tmp_path / f'{fr.name}.npy', fr.relative[::2, ::2])  # same aspect: resized
    disk = make_relative_source('disk', relative_dir=str(tmp_path))
    assert relative_for(disk, fr).shape == fr.rgb.shape[:2]
    np.save(tmp_path / f'{fr.name}.npy', np.ones((50, 50)))  # another aspect ratio: refused
    with pytest.raises(InputError, match='aspect'):
        relative_for(disk, fr)
    with pytest.raises(InputError, match='no relative source configured'):
        make_relative_source('')
    with pytest.raises(InputError, match='unknown relative source'):
        make_relative_source('magic')
    with pytest.raises(InputError, match='not a folder'):
        DiskRelative(str(tmp_path / 'missing'))
    with pytest.raises(InputError, match='aspect'):
        fit_to_image(np.ones((10, 40)), (72, 96), 'map')
    n = normalise_relative(np.array([[1.0, 2.0], [3.0, np.nan]]), 'inverse')
    assert n[0, 0] == 0.0 and n[1, 0] == 1.0 and n[1, 1] == 0.0
    assert normalise_relative(np.array([[1.0, 3.0]]), 'depth')[0, 0] == 1.0


def test_sparse_to_grid_keeps_values_and_nearest():
    s = np.zeros((4, 4), np.float32)
    s[0, 0], s[0, 1], s[3, 3] = 2.0, 1.0, 5.0
    g = sparse_to_grid(s, (2, 2))
    assert g[0, 0] == 1.0 and g[1, 1] == 5.0 and np.count_nonzero(g) == 2
    assert np.array_equal(sparse_to_grid(s, (4, 4)), s)


def test_pair_synthesis_is_seeded_and_rescales_segments(tmp_path_factory):
    bag = tiny_sample(tmp_path_factory)
    fr = next(iter(read_bag(bag)))
    cfg = SynthesisConfig(n_segments=(12,), pattern='random', random_points=(300, 300),
                          degrade_probability=0.0, uninformative_probability=0.0)
    base = frame_base(fr.rgb, fr.relative, 'inverse', fr.prompt_m, fr.camera, (48, 64), cfg)
    assert base.labels[0].shape == (48, 64) and base.labels[0].max() >= 4
    lidar_only = LidarOnly()
    p1, t1 = synthesize(base, np.random.default_rng(1), cfg, lidar_only)
    p2, t2 = synthesize(base, np.random.default_rng(1), cfg, lidar_only)
    assert np.array_equal(p1.x, p2.x) and np.array_equal(t1, t2)
    assert p1.x.shape == (10, 48, 64) and 200 <= int(p1.x[5].sum()) <= 300
    # without failure modes the network sees the un-rescaled base D0 as relative disparity
    clean = normalise_relative(1.0 / base.base_m.astype(np.float64), 'inverse')
    flipped = not np.allclose(p1.x[3], clean, atol=1e-5)
    rel_seen = p1.x[3][:, ::-1] if flipped else p1.x[3]
    assert np.allclose(rel_seen, clean, atol=1e-5)
    # the LiDAR-only channel: the default backend's completion of the pair's sparse depth at the
    # synthesis resolution (the image's here), area-averaged to the network's, near the truth
    assert base.rgb_full.shape[:2] == fr.rgb.shape[:2]
    lidar = p1.x[LIDAR] * p1.s
    assert lidar.shape == (48, 64) and np.all(lidar > 0)
    assert float(np.median(np.abs(np.log(lidar / t1)))) < 0.1
    # pseudo-truth = base x global x per-segment factors within the documented bounds
    ratio = (t1[:, ::-1] if flipped else t1) / base.base_m
    lo, hi = cfg.global_scale
    m = cfg.segment_max
    assert ratio.min() >= lo * np.exp(-m) - 1e-4 and ratio.max() <= hi * np.exp(m) + 1e-4
    full = base.labels_full[0]
    assert full.shape == fr.rgb.shape[:2] and full.max() >= 4
    inner = [np.percentile(ratio[base.labels[0] == k], [25, 75])
             for k in range(base.labels[0].max() + 1) if np.any(base.labels[0] == k)]
    assert np.median([hi_ - lo_ for lo_, hi_ in inner]) < 1e-3 and np.ptp(ratio) > 0.05


def test_failure_modes_corrupt_the_map_the_network_sees_not_the_pseudo_truth(tmp_path_factory):
    """Each failure mode changes the relative map; the pseudo-truth stays the same."""
    bag = tiny_sample(tmp_path_factory)
    fr = next(iter(read_bag(bag)))
    base = frame_base(fr.rgb, fr.relative, 'inverse', fr.prompt_m, fr.camera, (48, 64),
                      SynthesisConfig(n_segments=(12,)))
    labels = base.labels[0]
    exact = corrupt(base.base_m, base.rgb, labels, 'inverse', np.random.default_rng(0),
                    SynthesisConfig(modes=()))
    assert np.allclose(exact, 1.0 / base.base_m, rtol=1e-6)
    depth = corrupt(base.base_m, base.rgb, labels, 'depth', np.random.default_rng(0),
                    SynthesisConfig(modes=()))
    assert np.allclose(depth, base.base_m, rtol=1e-5)
    for mode in MODES:
        one = corrupt(base.base_m, base.rgb, labels, 'inverse', np.random.default_rng(3),
                      SynthesisConfig(modes=(mode,), degrade_probability=1.0))
        assert one.shape == exact.shape and np.all(np.isfinite(one)) and np.all(one > 0)
        assert np.mean(np.abs(one / exact - 1.0)) > 1e-3, mode
    pairs = [synthesize(base, np.random.default_rng(5), SynthesisConfig(
        n_segments=(12,), pattern='random', random_points=(300, 300), degrade_probability=p,
        uninformative_probability=u)) for p, u in ((0.0, 0.0), (1.0, 0.0), (0.0, 1.0))]
    (p0, t0), (p1, t1), (p2, t2) = pairs
    for t in (t1, t2):  # the same pseudo-truth (a flip may differ)
        assert np.array_equal(t0, t) or np.array_equal(t0, t[:, ::-1])
    for p in (p1, p2):
        assert not np.allclose(p0.x[3], p.x[3]) and not np.allclose(p0.x[3], p.x[3][:, ::-1])
    # smoothed factors: the same draws, fewer and smaller jumps inside surfaces
    smooth = SynthesisConfig(n_segments=(12,), pattern='random', random_points=(300, 300),
                             degrade_probability=0.0, uninformative_probability=0.0,
                             factor_smoothing=0.2)
    ps, ts = synthesize(base, np.random.default_rng(5), smooth)
    plain = SynthesisConfig(n_segments=(12,), pattern='random', random_points=(300, 300),
                            degrade_probability=0.0, uninformative_probability=0.0)
    pp, tp = synthesize(base, np.random.default_rng(5), plain)

    def jumps(t):  # the same base and draws (and flip): the difference is the factor field
        return float(np.abs(np.diff(np.log(t), axis=1)).mean())

    assert jumps(ts) < jumps(tp)
    for bad in ({'degrade_probability': 1.5}, {'degrade_blur_px': (-1.0, 1.0)},
                {'degrade_noise': (0.1, 0.0)}, {'modes': ('magic',)},
                {'uninformative_probability': -0.1}):
        with pytest.raises(InputError):
            SynthesisConfig(**bad)


def test_refiner_weights_round_trip_and_refuse_others(tmp_path):
    path = tiny_weights(tmp_path / 'w.safetensors')
    model, meta = load_refiner(path, expected=TINY)
    assert model.config == TINY and meta['format'] == 'promptda_ros.starrygazer.refine'
    other = RefineConfig(base_width=16, levels=3, groups=4, net_long_side=48)
    with pytest.raises(CheckpointError, match='another config: base_width=8'):
        load_refiner(path, expected=other)
    save_file({'w': torch.zeros(2)}, str(tmp_path / 'plain.safetensors'))
    with pytest.raises(CheckpointError, match='not StarryGazer refinement weights'):
        load_refiner(str(tmp_path / 'plain.safetensors'))
    with pytest.raises(CheckpointError, match='not found'):
        load_refiner(str(tmp_path / 'missing.safetensors'))
    # weights of the earlier format (a correction of the relative map): refused, adapt again
    state = {k: v for k, v in load_refiner(path)[0].state_dict().items()}
    save_file(state, str(tmp_path / 'v1.safetensors'),
              metadata={'format': 'promptda_ros.starrygazer.refine', 'format_version': '1',
                        'config': TINY.to_json()})
    with pytest.raises(CheckpointError, match='format version .1.*adapt again'):
        load_refiner(str(tmp_path / 'v1.safetensors'))
    # tensors of another width under this config's metadata: refused, naming the config
    net = RefineNet(other)
    net.config = TINY
    save_refiner(net, str(tmp_path / 'forged.safetensors'))
    with pytest.raises(CheckpointError, match='do not match'):
        load_refiner(str(tmp_path / 'forged.safetensors'))
    assert sum(p.numel() for p in RefineNet().parameters()) == 489026  # documented: 0.49 M


def test_zero_head_returns_the_lidar_only_completion(tmp_path_factory, tmp_path):
    """An untrained (zero-output) network returns the LiDAR-only completion bit for bit.

    That completion is the ``default`` backend's output through the frame pipeline.
    """
    bag = tiny_sample(tmp_path_factory)
    path = save_refiner(RefineNet(TINY), str(tmp_path / 'zero.safetensors'))
    sg = StarryGazer(path)
    config = PipelineConfig()
    default = DepthPipeline(make_backend('default'))
    for fr in read_bag(bag):
        rel = relative_for(BagRelative(), fr)
        prompt = prompt_from_depth(fr.prompt_m, config)
        lidar = sg.lidar_only(fr.rgb, prompt.sparse_m, fr.camera)
        assert np.array_equal(sg.refine(fr.rgb, prompt.sparse_m, rel, 'inverse', fr.camera),
                              lidar, equal_nan=True)
        published = default.predict(fr.rgb, fr.camera, prompt, config).depth_m
        finite = np.isfinite(published)
        assert finite.mean() > 0.95 and np.array_equal(lidar[finite], published[finite])
        prep = prepare(fr.rgb, rel, 'inverse', prompt.sparse_m, TINY.net_hw(fr.rgb.shape[:2]),
                       sg.lidar_only, fr.camera)
        assert prep.x.shape[0] == 10 and np.all(prep.lidar_m > 0)


def test_gate_passes_the_cue_or_nothing_and_the_residual_adds_to_it():
    """The correction is clamp(g, 0, 1) * cue + bound * tanh(r); an open gate passes the cue."""
    torch.manual_seed(0)
    x = torch.randn(2, 10, 16, 24)
    x[:, CUE] = torch.rand(2, 16, 24) * 2 - 1
    net = RefineNet(dataclasses.replace(TINY, max_log_correction=1.0))
    with torch.no_grad():
        assert torch.equal(net(x), torch.zeros(2, 1, 16, 24))  # untrained: nothing added
        for gate_bias, share in ((1.0, 1.0), (7.0, 1.0), (0.25, 0.25), (-3.0, 0.0)):
            net.head.bias[GATE] = gate_bias
            assert torch.allclose(net(x), share * x[:, CUE:CUE + 1], atol=1e-6)
        net.head.bias[RESIDUAL] = float(np.arctanh(0.5))
        bound = 1.0
        assert torch.allclose(net(x), 0.5 * bound + torch.zeros_like(x[:, :1]), atol=1e-6)
        net.head.bias[GATE] = 1.0
        assert torch.allclose(net(x), x[:, CUE:CUE + 1] + 0.5 * bound, atol=1e-6)
    gate_only = RefineNet(TINY)  # the default: no residual, whatever the residual channel says
    with torch.no_grad():
        gate_only.head.bias[RESIDUAL] = 3.0
        gate_only.head.bias[GATE] = 0.5
        assert torch.allclose(gate_only(x), 0.5 * x[:, CUE:CUE + 1], atol=1e-6)


def test_depth_anything_v2_source_gives_disparity_for_adapt(tmp_path_factory, tmp_path, capsys):
    """A tiny random Depth Anything V2 (-hf folder) as relative source, also in promptda-adapt."""
    from promptda_ros.adapt import cli

    from test_train_models import _tiny_depth_anything

    hf_dir = str(tmp_path / 'da2-tiny-hf')
    _tiny_depth_anything().save_pretrained(hf_dir)
    bag = tiny_sample(tmp_path_factory)
    fr = next(iter(read_bag(bag)))
    src = make_relative_source('depth_anything_v2', checkpoint=hf_dir, short_side=56)
    assert src.space == 'inverse'
    assert src(fr).shape == fr.rgb.shape[:2]
    rel = relative_for(src, fr)
    assert rel.shape == fr.rgb.shape[:2] and np.all(np.isfinite(rel)) and np.ptp(rel) > 0
    with pytest.raises(CheckpointError):
        make_relative_source('depth_anything_v2', checkpoint=str(tmp_path / 'missing.pth'))
    rc = cli.main([str(bag), '--out', str(tmp_path / 'run'), '--relative-source',
                   'depth_anything_v2', '--relative-checkpoint', hf_dir, '--steps', '1',
                   '--relative-short-side', '56',
                   '--width', '8', '--net-long-side', '48', '--batch', '2', '--quiet'])
    assert rc == 0, capsys.readouterr()[1]
    _, meta = load_refiner(str(tmp_path / 'run' / cli.WEIGHTS))
    assert meta['relative_source'] == 'depth_anything_v2' and meta['relative_space'] == 'inverse'
