# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0

"""The act_depth policy type: 1-channel ResNet stem, ImageNet kernel summing, registration."""

import ast
import json
import os

import numpy as np
import pytest
import torch
import torchvision
from torchvision.ops.misc import FrozenBatchNorm2d

os.environ.setdefault('HF_HUB_OFFLINE', '1')

from promptda_policy import POLICY_TYPE  # noqa: E402
from promptda_policy.configuration_act_depth import ACTDepthConfig  # noqa: E402
from promptda_policy.inference import DepthPolicy, load_policy  # noqa: E402
from promptda_policy.lerobot_adapter import (  # noqa
    get_policy_class,
    make_pre_post_processors,
    PreTrainedConfig,
)
from promptda_policy.modeling_act_depth import (  # noqa
    ACTDepthPolicy,
    depth_conv_from_rgb,
    RESNET18_IMAGENET_FILE,
)
from promptda_policy.processor_act_depth import check_depth_stats  # noqa: E402
from promptda_policy.synthetic import make_config, make_stats, save_untrained_policy  # noqa
from promptda_ros.core.errors import CheckpointError, InputError  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = dict(dim_model=64, n_heads=2, dim_feedforward=128, n_encoder_layers=1,
            n_decoder_layers=1, chunk_size=10, n_action_steps=10)


def test_summed_kernel_equals_depth_repeated_three_times():
    torch.manual_seed(0)
    rgb = torch.nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
    depth = depth_conv_from_rgb(rgb)
    assert depth.in_channels == 1 and depth.stride == (2, 2) and depth.padding == (3, 3)
    x = torch.rand(2, 1, 48, 64) * 4.0
    assert torch.allclose(depth(x), rgb(x.repeat(1, 3, 1, 1)), atol=1e-5)
    with pytest.raises(CheckpointError):
        depth_conv_from_rgb(depth)


@pytest.fixture
def fake_imagenet(tmp_path, monkeypatch):
    """A torchvision-format ResNet18 file in a private TORCH_HOME (random, not downloaded)."""
    monkeypatch.setenv('TORCH_HOME', str(tmp_path))
    torch.manual_seed(1)
    net = torchvision.models.resnet18(weights=None)
    for m in net.modules():   # non-trivial BN statistics so the comparison is meaningful
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    path = tmp_path / 'hub' / 'checkpoints' / RESNET18_IMAGENET_FILE
    path.parent.mkdir(parents=True)
    torch.save(net.state_dict(), path)
    return net.state_dict(), path


def test_imagenet_backbone_features_match_rgb_network_on_repeated_depth(fake_imagenet):
    state, _ = fake_imagenet
    policy = ACTDepthPolicy(make_config(64, 64, 4, **TINY))
    assert policy.imagenet_initialised
    ref = torchvision.models.resnet18(weights=None, norm_layer=FrozenBatchNorm2d)
    ref.load_state_dict(state)
    ref.eval()
    backbone = policy.model.backbone.eval()
    assert torch.equal(backbone.conv1.weight, state['conv1.weight'].sum(1, keepdim=True))
    x = torch.rand(2, 1, 64, 64) * 3.0
    with torch.no_grad():
        ours = backbone(x)['feature_map']
        y = x.repeat(1, 3, 1, 1)
        y = ref.layer4(ref.layer3(ref.layer2(ref.layer1(
            ref.maxpool(ref.relu(ref.bn1(ref.conv1(y))))))))
    assert ours.shape == (2, 512, 2, 2)
    assert torch.allclose(ours, y, atol=1e-4, rtol=1e-4)


def test_missing_imagenet_file_random_or_error(tmp_path, monkeypatch):
    monkeypatch.setenv('TORCH_HOME', str(tmp_path))
    policy = ACTDepthPolicy(make_config(48, 64, 4, **TINY))
    assert not policy.imagenet_initialised
    assert policy.model.backbone.conv1.weight.shape == (64, 1, 7, 7)
    with pytest.raises(CheckpointError, match=RESNET18_IMAGENET_FILE):
        ACTDepthPolicy(make_config(48, 64, 4, require_imagenet_backbone=True, **TINY))


def test_corrupt_imagenet_file_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv('TORCH_HOME', str(tmp_path))
    path = tmp_path / 'hub' / 'checkpoints' / RESNET18_IMAGENET_FILE
    path.parent.mkdir(parents=True)
    torch.save({'conv1.weight': torch.zeros(64, 3, 7, 7)}, path)
    with pytest.raises(CheckpointError, match='not a ResNet18'):
        ACTDepthPolicy(make_config(48, 64, 4, **TINY))


def test_config_validation():
    with pytest.raises(InputError, match='pretrained_backbone_weights'):
        ACTDepthConfig(pretrained_backbone_weights='ResNet18_Weights.IMAGENET1K_V1')
    with pytest.raises(InputError, match='depth_unit'):
        ACTDepthConfig(depth_unit='cm')
    with pytest.raises(InputError, match='normalisation'):
        ACTDepthConfig(normalization_mapping={'VISUAL': 'IDENTITY', 'STATE': 'MEAN_STD',
                                              'ACTION': 'MEAN_STD'})
    cfg = make_config(48, 64, 4, **TINY)
    cfg.input_features['observation.images.depth'].shape = (3, 48, 64)
    with pytest.raises(InputError, match=r'\(1, H, W\)'):
        cfg.validate_features()


def test_depth_stats_must_be_dataset_stats_not_imagenet():
    cfg = make_config(48, 64, 4, **TINY)
    stats = make_stats(4)
    check_depth_stats(cfg, stats)
    imagenet = dict(stats)
    imagenet['observation.images.depth'] = {
        'mean': torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1),
        'std': torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)}
    with pytest.raises(InputError, match='ImageNet'):
        check_depth_stats(cfg, imagenet)
    with pytest.raises(InputError, match='no dataset statistics'):
        check_depth_stats(cfg, {})


def test_registered_type_round_trips_through_lerobot(tmp_path):
    assert POLICY_TYPE in PreTrainedConfig.get_known_choices()
    assert get_policy_class(POLICY_TYPE) is ACTDepthPolicy
    path = str(tmp_path / 'ckpt')
    save_untrained_policy(path, 48, 64, 4, seed=3, **TINY)
    cfg = PreTrainedConfig.from_pretrained(path)
    assert isinstance(cfg, ACTDepthConfig)
    policy, pre, post = load_policy(path)
    ref = ACTDepthPolicy.from_pretrained(path)
    for (k, a), (_, b) in zip(policy.state_dict().items(), ref.state_dict().items()):
        assert torch.equal(a, b), k
    # Normalisation statistics are the dataset's, restored from the processor files.
    pre2, _ = make_pre_post_processors(cfg, pretrained_path=path)
    batch = {'observation.images.depth': torch.full((1, 48, 64), 2.0),
             'observation.state': torch.zeros(4)}
    out = pre2(batch)['observation.images.depth']
    assert torch.allclose(out, torch.full_like(out, (2.0 - 1.5) / 0.5), atol=1e-4)


def test_depth_policy_predicts_and_validates_inputs(tmp_path):
    path = save_untrained_policy(str(tmp_path / 'ckpt'), 48, 64, 4, **TINY)
    policy = DepthPolicy(path, resize=False)
    depth = np.full((48, 64), 1.2, np.float32)
    depth[0, 0] = np.nan
    chunk = policy.predict_chunk(depth, np.zeros(4))
    assert chunk.shape == (10, 4) and np.all(np.isfinite(chunk))
    with pytest.raises(InputError, match='trained on 48x64'):
        policy.predict_chunk(np.ones((96, 128), np.float32), np.zeros(4))
    with pytest.raises(InputError, match='4 joints'):
        policy.predict_chunk(depth, np.zeros(3))
    with pytest.raises(InputError, match='non-finite'):
        policy.predict_chunk(depth, np.array([0, np.nan, 0, 0]))
    resized = DepthPolicy(path, resize=True).predict_chunk(np.full((96, 128), 1.2, np.float32),
                                                           np.zeros(4))
    assert resized.shape == (10, 4)


def test_missing_or_wrong_checkpoint_is_refused(tmp_path):
    with pytest.raises(CheckpointError, match='does not exist'):
        load_policy(str(tmp_path / 'nope'))
    (tmp_path / 'empty').mkdir()
    with pytest.raises(CheckpointError, match='config.json'):
        load_policy(str(tmp_path / 'empty'))


def _imports(path):
    with open(path, encoding='utf-8') as f:
        tree = ast.parse(f.read())
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(a.name.split('.')[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split('.')[0])
    return roots


def test_only_the_adapter_imports_lerobot_and_pure_modules_import_no_ros():
    folder = os.path.join(ROOT, 'policy', 'promptda_policy')
    files = sorted(f for f in os.listdir(folder) if f.endswith('.py'))
    users = [f for f in files if 'lerobot' in _imports(os.path.join(folder, f))]
    assert users == ['lerobot_adapter.py']
    ros_layer = ('policy_node.py', 'recorder.py')
    for f in files:
        if f in ros_layer or f.startswith('ros_'):
            continue
        ros = {m for m in _imports(os.path.join(folder, f))
               if m == 'rclpy' or m.endswith(('_msgs', '_srvs'))}
        assert not ros, '%s imports %s' % (f, ros)
    assert not os.path.exists(os.path.join(ROOT, 'policy', '__init__.py'))


def test_training_stops_on_a_nan_loss_or_weight():
    """What lerobot's loop calls each step: forward (the loss) and update (after the step)."""
    from promptda_ros.core.errors import NonFiniteError

    torch.manual_seed(0)
    policy = ACTDepthPolicy(make_config(32, 32, 4, imagenet_backbone=False, **TINY))
    policy.train()
    batch = {'observation.images.depth': torch.randn(2, 1, 32, 32),
             'observation.state': torch.randn(2, 4), 'action': torch.randn(2, 10, 4),
             'action_is_pad': torch.zeros(2, 10, dtype=torch.bool)}
    loss, _ = policy.forward(batch)
    assert torch.isfinite(loss)
    policy.update()                                   # finite weights: nothing happens
    with torch.no_grad():
        next(policy.parameters()).view(-1)[0] = float('inf')   # e.g. a step with --lr inf
    with pytest.raises(NonFiniteError, match='not finite after an optimiser step'):
        policy.update()
    with pytest.raises(NonFiniteError, match='training loss is nan'):
        policy.forward(batch)


@pytest.mark.parametrize('norm', ['group_norm', 'batch_norm'])
def test_learning_backbone_norms_replace_frozen_ones_and_survive_a_checkpoint(tmp_path, norm):
    kind = {'group_norm': torch.nn.GroupNorm, 'batch_norm': torch.nn.BatchNorm2d}[norm]
    path = save_untrained_policy(str(tmp_path / 'ckpt'), 48, 64, 4, seed=5, backbone_norm=norm,
                                 **TINY)
    policy, _, _ = load_policy(path)
    norms = [m for m in policy.model.backbone.modules()
             if isinstance(m, (FrozenBatchNorm2d, torch.nn.GroupNorm, torch.nn.BatchNorm2d))]
    assert norms and all(type(m) is kind for m in norms)
    # The learnt scale is a parameter now (frozen batch norm holds buffers only).
    names = {n for n, _ in policy.model.backbone.named_parameters()}
    assert 'bn1.weight' in names and 'layer4.1.bn2.bias' in names
    # The same weights come back: two loads predict the same chunk.
    depth = np.linspace(0.5, 2.0, 48 * 64, dtype=np.float32).reshape(48, 64)
    a = DepthPolicy(path, resize=False).predict_chunk(depth, np.zeros(4))
    b = DepthPolicy(path, resize=False).predict_chunk(depth, np.zeros(4))
    assert np.array_equal(a, b)


def test_backbone_norm_is_validated_and_old_checkpoints_stay_frozen(tmp_path):
    with pytest.raises(InputError, match='backbone_norm'):
        ACTDepthConfig(backbone_norm='layer_norm')
    path = save_untrained_policy(str(tmp_path / 'ckpt'), 48, 64, 4, **TINY)
    cfg_file = tmp_path / 'ckpt' / 'config.json'
    cfg = json.loads(cfg_file.read_text())
    cfg.pop('backbone_norm')   # a checkpoint written before the option existed
    cfg_file.write_text(json.dumps(cfg))
    policy, _, _ = load_policy(path)
    assert any(isinstance(m, FrozenBatchNorm2d) for m in policy.model.backbone.modules())
