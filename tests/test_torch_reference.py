"""Self-checks of the PyTorch CSTM reference modules (`rvs_jax.convert.torch_reference`).

They pin the layout facts of `docs/model.md` (key names, shapes,
parameter counts, padding, stage shapes, zero-init CMAM) that the JAX parity and
weight-conversion tests rely on. Full-size modules are built, but forward passes run
only at small spatial sizes (64x64, T=8).
"""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

# pylint: disable=g-import-not-at-top,wrong-import-position
from torch import nn

from rvs_jax.convert import torch_reference as ref

# pylint: enable=g-import-not-at-top,wrong-import-position


@pytest.fixture(scope="module")
def cstm():
  torch.manual_seed(0)
  return ref.CSTMModel(dim_semantic=512).eval()


@pytest.fixture(scope="module")
def i3d():
  torch.manual_seed(0)
  return ref.InceptionI3d().eval()


def _shapes(module):
  return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def _mb(n):
  return round(n / 1e6, 1)


# ----------------------------------------------------------------------------------------
# ResNet-50 (§1.2)
# ----------------------------------------------------------------------------------------


def test_resnet50_layout():
  net = ref.ResNet50()
  assert ref.count_params(net) == 25_557_032
  shapes = _shapes(net)
  expected = {
      "conv1.weight": (64, 3, 7, 7),
      "fc.weight": (1000, 2048),
      "fc.bias": (1000,),
      "layer1.0.conv1.weight": (64, 64, 1, 1),
      "layer1.0.conv2.weight": (64, 64, 3, 3),
      "layer1.0.conv3.weight": (256, 64, 1, 1),
      "layer1.0.downsample.0.weight": (256, 64, 1, 1),
      "layer1.0.downsample.1.running_var": (256,),
      "layer2.0.conv1.weight": (128, 256, 1, 1),
      "layer2.0.conv2.weight": (128, 128, 3, 3),
      "layer2.0.conv3.weight": (512, 128, 1, 1),
      "layer2.0.downsample.0.weight": (512, 256, 1, 1),
      "layer3.5.bn3.weight": (1024,),
      "layer4.2.conv3.weight": (2048, 512, 1, 1),
  }
  for k, v in expected.items():
    assert shapes[k] == v, k
  assert "layer2.1.downsample.0.weight" not in shapes
  assert len([k for k in shapes if k.endswith(".conv1.weight")]) == 3 + 4 + 6 + 3
  # v1.5: the stride is on the 3x3 conv2 of the first block.
  assert net.layer2[0].conv2.stride == (2, 2) and net.layer2[0].conv1.stride == (1, 1)
  assert net.layer2[0].downsample[0].stride == (2, 2)
  assert all(m.eps == 1e-5 for m in net.modules() if isinstance(m, nn.BatchNorm2d))


def test_resnet50_stages_small_width():
  net = ref.ResNet50(width_mult=0.25).eval()
  with torch.no_grad():
    outs = net.stages(torch.randn(2, 3, 64, 64))
    logits = net(torch.randn(1, 3, 64, 64))
  assert [tuple(o.shape) for o in outs] == [
      (2, 16, 32, 32), (2, 64, 16, 16), (2, 128, 8, 8), (2, 256, 4, 4), (2, 512, 2, 2)]
  assert net.stage_channels == [16, 64, 128, 256, 512]
  assert tuple(logits.shape) == (1, 1000)


# ----------------------------------------------------------------------------------------
# I3D (§1.1)
# ----------------------------------------------------------------------------------------


def test_i3d_state_dict(i3d):
  shapes = _shapes(i3d)
  assert len(shapes) == 344
  units = [k[: -len(".conv3d.weight")] for k in shapes if k.endswith(".conv3d.weight")]
  assert len(units) == 58
  expected = {
      "conv3d_1a_7x7.conv3d.weight": (64, 3, 7, 7, 7),
      "conv3d_1a_7x7.batch3d.running_mean": (64,),
      "conv3d_2b_1x1.conv3d.weight": (64, 64, 1, 1, 1),
      "conv3d_2c_3x3.conv3d.weight": (192, 64, 3, 3, 3),
      "mixed_3b.branch_0.conv3d.weight": (64, 192, 1, 1, 1),
      "mixed_4f.branch_1.1.conv3d.weight": (320, 160, 3, 3, 3),
      "mixed_5c.branch_3.1.conv3d.weight": (128, 832, 1, 1, 1),
      "mixed_5c.branch_2.1.batch3d.bias": (128,),
      "conv3d_0c_1x1.conv3d.weight": (400, 1024, 1, 1, 1),
      "conv3d_0c_1x1.conv3d.bias": (400,),
  }
  for k, v in expected.items():
    assert shapes[k] == v, k
  assert not any(k.startswith("conv3d_0c_1x1.batch3d") for k in shapes)
  assert not any(".conv3d.bias" in k for k in shapes if not k.startswith("conv3d_0c"))
  for name in ref.I3D_MIXED_TABLE:
    for b in ("branch_0", "branch_1.0", "branch_1.1", "branch_2.0", "branch_2.1",
              "branch_3.1"):
      assert f"{name}.{b}.batch3d.running_var" in shapes
  assert i3d.stage_channels == [64, 192, 480, 832, 1024]
  assert ref.count_params(ref.InceptionI3d(with_logits=False)) == 12_287_264


def test_i3d_padding_torch_port(i3d):
  conv1a = i3d.conv3d_1a_7x7
  # Only conv1a is asymmetric: explicit zero pad (2, 3) on T, H, W then a VALID conv.
  assert conv1a.pad.padding == (2, 3, 2, 3, 2, 3) and conv1a.pad.value == 0
  assert conv1a.conv3d.padding == (0, 0, 0) and conv1a.conv3d.stride == (2, 2, 2)
  assert i3d.conv3d_2c_3x3.conv3d.padding == (1, 1, 1)
  assert not hasattr(i3d.conv3d_2c_3x3, "pad")
  assert i3d.conv3d_2b_1x1.conv3d.padding == (0, 0, 0)
  assert i3d.mixed_4d.branch_2[1].conv3d.padding == (1, 1, 1)
  bns = [m for m in i3d.modules() if isinstance(m, nn.BatchNorm3d)]
  assert len(bns) == 57 and all(m.eps == 1e-5 for m in bns)
  # Pools (§1.1): (W_l, W_r, H_t, H_b, T_f, T_b) order of ConstantPad3d, zero value.
  assert i3d.maxPool3d_2a_3x3.pad.padding == (0, 1, 0, 1, 0, 0)
  assert i3d.maxPool3d_3a_3x3.pad.padding == (0, 1, 0, 1, 0, 0)
  assert i3d.maxPool3d_4a_3x3.pad.padding == (0, 1, 0, 1, 0, 1)
  assert i3d.maxPool3d_5a_2x2.pad.padding == (0,) * 6
  assert i3d.mixed_3b.branch_3[0].pad.padding == (1,) * 6
  pools = [m for m in i3d.modules() if isinstance(m, ref.MaxPool3dTFPadding)]
  assert len(pools) == 4 + 9
  assert all(p.pad.value == 0 and p.pool.ceil_mode for p in pools)


def test_i3d_stage_shapes(i3d):
  with torch.no_grad():
    outs = i3d.stages(torch.rand(1, 3, 8, 64, 64))
  assert [tuple(o.shape) for o in outs] == [
      (1, 64, 4, 32, 32), (1, 192, 4, 16, 16), (1, 480, 4, 8, 8), (1, 832, 2, 4, 4),
      (1, 1024, 1, 2, 2)]


def test_i3d_logits_forward():
  net = ref.InceptionI3d(width_mult=0.125).eval()
  with torch.no_grad():
    out = net(torch.rand(2, 3, 8, 64, 64))
  assert tuple(out.shape) == (2, 400)


def test_tf_same_layout_and_padding():
  net = ref.InceptionI3d(tf_same=True, width_mult=0.125)
  full_keys = set(ref.InceptionI3d(width_mult=0.125).state_dict())
  assert set(net.state_dict()) == full_keys
  bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm3d)]
  assert all(m.eps == 1e-3 and not m.weight.requires_grad for m in bns)
  # Dynamic SAME pads: total = max((ceil(n/s)-1)*s + k - n, 0), extra at the end.
  assert ref._dynamic_same_pads((8, 64, 9), (7, 7, 3), (2, 2, 2)) == (
      (2, 3), (2, 3), (1, 1))
  assert ref._dynamic_same_pads((5, 10, 10), (3, 3, 3), (2, 2, 2)) == (
      (1, 1), (0, 1), (0, 1))
  # -inf vs zero pool padding differs on negative inputs at the border.
  x = -torch.ones(1, 1, 1, 4, 4)
  tf_pool = ref.MaxPool3dTFPadding((1, 3, 3), (1, 2, 2), tf_same=True)
  pt_pool = ref.MaxPool3dTFPadding((1, 3, 3), (1, 2, 2))
  assert torch.all(tf_pool(x) == -1) and torch.any(pt_pool(x) == 0)
  # The BN scale is not used in tf_same mode.
  unit = ref.Unit3Dpy(2, 3, (1, 1, 1), tf_same=True).eval()
  with torch.no_grad():
    unit.batch3d.weight.fill_(5.0)
    unit.batch3d.bias.fill_(0.25)
    unit.conv3d.weight.fill_(1.0)
  y = unit(torch.ones(1, 2, 1, 1, 1))
  np.testing.assert_allclose(y.detach().numpy().ravel(),
                             2 / math.sqrt(1 + 1e-3) + 0.25, rtol=1e-6)


def test_tf_same_equals_torch_port_on_aligned_inputs():
  """At T=8 and H, W multiples of 32 the static pads are true SAME (§1.1)."""
  torch.manual_seed(1)
  pt = ref.InceptionI3d(width_mult=0.125, with_logits=False).eval()
  tf = ref.InceptionI3d(width_mult=0.125, with_logits=False, tf_same=True).eval()
  ref.randomize_bn_stats(pt, seed=3)
  with torch.no_grad():
    for m in pt.modules():
      if isinstance(m, nn.BatchNorm3d):
        m.weight.fill_(1.0)
        m.eps = 1e-3
  tf.load_state_dict(pt.state_dict())
  x = torch.rand(1, 3, 8, 64, 64) * 2 - 1
  with torch.no_grad():
    for a, b in zip(pt.stages(x), tf.stages(x)):
      np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------------------------
# CMAM and coordinate map (§1.4)
# ----------------------------------------------------------------------------------------


def test_spatial_feature():
  sp = ref.get_video_spatial_feature(4, 2)
  assert sp.shape == (8, 4, 2) and sp.dtype == np.float32
  h, w = 1, 1
  expected = [2 * w / 2 - 1, 2 * h / 4 - 1, 2 * (w + 1) / 2 - 1, 2 * (h + 1) / 4 - 1,
              (2 * w / 2 - 1 + 2 * (w + 1) / 2 - 1) / 2,
              (2 * h / 4 - 1 + 2 * (h + 1) / 4 - 1) / 2, 1 / 2, 1 / 4]
  np.testing.assert_array_equal(sp[:, h, w], np.float32(expected))
  sp10 = ref.get_video_spatial_feature(10, 10)
  assert sp10[0, 0, 0] == -1 and sp10[2, 0, -1] == 1 and sp10[6, 3, 3] == np.float32(0.1)


def _cmam_manual(cmam, visual, txt, spatial):
  """Independent re-statement of §1.4 steps 1-8 on top of the module's sub-layers."""
  b = visual.shape[0]
  v = cmam.vt(torch.cat([visual, spatial.expand(b, *spatial.shape[1:])], 1))
  k = cmam.v_key(v).flatten(2)  # [B, D, M]
  q = cmam.l_query(txt)  # [B, D, N]
  a = torch.bmm(k.transpose(1, 2), q).sum(1)  # [B, N]
  a = a / a.norm(dim=-1, keepdim=True).clamp_min(1e-12)
  a = torch.softmax(a, -1)
  l = torch.bmm(txt, a.unsqueeze(-1)).squeeze(-1)
  g = torch.sigmoid(cmam.gamma[0](l))
  return v * (g.reshape(b, -1, *[1] * (visual.dim() - 2)) - 0.5)


@pytest.mark.parametrize("num_dim", [2, 3])
def test_cmam(num_dim):
  torch.manual_seed(0)
  c, d = 16, 12
  cmam = ref.CMAM(c, d, num_dim=num_dim).eval()
  shapes = _shapes(cmam)
  if num_dim == 2:
    assert shapes["vt.conv.weight"] == (c, c + 8, 3, 3)
    assert shapes["v_key.conv.weight"] == (d, c, 1, 1)
    assert "v_key.bn.running_var" in shapes
  else:
    assert shapes["vt.conv3d.weight"] == (c, c + 8, 3, 3, 3)
    assert shapes["v_key.conv3d.weight"] == (d, c, 1, 1, 1)
    assert cmam.vt.conv3d.padding == (1, 1, 1) and cmam.vt.batch3d.eps == 1e-5
  assert shapes["l_query.0.weight"] == (d, d, 1)
  assert shapes["l_query.1.running_mean"] == (d,)
  assert shapes["gamma.0.weight"] == (c, d) and shapes["gamma.0.bias"] == (c,)
  spatial_2d = torch.from_numpy(ref.get_video_spatial_feature(6, 6))[None]
  if num_dim == 2:
    visual, spatial = torch.randn(2, c, 6, 6), spatial_2d
  else:
    visual = torch.randn(2, c, 3, 6, 6)
    spatial = spatial_2d.unsqueeze(2).expand(-1, -1, 3, -1, -1)
  txt = torch.randn(2, d, 20)
  with torch.no_grad():
    assert torch.count_nonzero(cmam(visual, txt, spatial)) == 0  # zero_init
    ref.randomize_bn_stats(cmam, seed=1)
    ref.randomize_cmam_gamma(cmam, seed=2, std=0.3)
    out = cmam(visual, txt, spatial)
    assert tuple(out.shape) == tuple(visual.shape)
    np.testing.assert_allclose(out.numpy(), _cmam_manual(cmam, visual, txt, spatial),
                               rtol=1e-5, atol=1e-6)
    assert float(out.abs().max()) > 0


# ----------------------------------------------------------------------------------------
# CSTM model (§1.0, §1.3, §1.5)
# ----------------------------------------------------------------------------------------


def test_cstm_param_counts(cstm):
  total = ref.count_params(cstm)
  assert abs(total - 184.4e6) / 184.4e6 < 2e-3, total
  parts = {}
  for name, p in cstm.named_parameters():
    top = name.split(".")[0]
    parts[top] = parts.get(top, 0) + p.numel()

  def group(*names):
    return sum(parts[n] for n in names)

  assert _mb(group(*[f"t_layer{k}" for k in range(1, 6)])) == 12.3
  assert _mb(group(*[f"s_layer{k}" for k in range(1, 6)])) == 23.5
  assert _mb(group("cmam_s", "cmam_t")) == 114.7
  assert _mb(parts["cmam_s"]) == 55.8 and _mb(parts["cmam_t"]) == 58.9
  assert _mb(group("ires_trans", "vres_trans", "conv_fuse1", "conv_fuse2",
                   "conv_mask")) == 32.7
  assert [_mb(parts[n]) for n in ("ires_trans", "vres_trans", "conv_fuse1",
                                  "conv_fuse2", "conv_mask")] == [9.0, 6.0, 5.9, 4.7, 7.1]
  assert round(group("txt_encoder", "txt_norm") / 1e6, 2) == 1.25
  assert group(*[f"s_layer{k}" for k in range(1, 6)]) == 25_557_032 - 2048 * 1000 - 1000
  assert sum(parts.values()) == total


def test_cstm_state_dict_keys(cstm):
  shapes = _shapes(cstm)
  d = 512
  expected = {
      "t_layer1.0.conv3d.weight": (64, 3, 7, 7, 7),
      "t_layer2.1.conv3d.weight": (64, 64, 1, 1, 1),
      "t_layer2.2.conv3d.weight": (192, 64, 3, 3, 3),
      "t_layer3.1.branch_0.conv3d.weight": (64, 192, 1, 1, 1),
      "t_layer4.3.branch_2.1.conv3d.weight": (64, 24, 3, 3, 3),  # = mixed_4d
      "t_layer4.5.branch_1.1.conv3d.weight": (320, 160, 3, 3, 3),  # = mixed_4f
      "t_layer5.2.branch_3.1.conv3d.weight": (128, 832, 1, 1, 1),  # = mixed_5c
      "s_layer1.0.weight": (64, 3, 7, 7),
      "s_layer1.1.running_var": (64,),
      "s_layer2.1.0.downsample.0.weight": (256, 64, 1, 1),
      "s_layer3.0.conv2.weight": (128, 128, 3, 3),
      "s_layer5.2.bn3.running_var": (2048,),
      "cmam_s.4.vt.conv.weight": (2048, 2056, 3, 3),
      "cmam_s.0.v_key.conv.weight": (d, 64, 1, 1),
      "cmam_s.1.v_key.bn.running_mean": (d,),
      "cmam_t.4.vt.conv3d.weight": (1024, 1032, 3, 3, 3),
      "cmam_t.1.vt.batch3d.running_var": (192,),
      "cmam_t.3.v_key.conv3d.weight": (d, 832, 1, 1, 1),
      "cmam_t.2.l_query.0.weight": (d, d, 1),
      "cmam_s.3.l_query.1.running_var": (d,),
      "cmam_s.3.gamma.0.weight": (1024, d),
      "cmam_t.2.gamma.0.bias": (480,),
      "txt_encoder.weight_ih_l0": (3 * d, 300),
      "txt_encoder.weight_hh_l0": (3 * d, d),
      "txt_norm.0.weight": (d,),
      "txt_norm.0.bias": (d,),
      "ires_trans.4.0.weight": (256, 2048, 3, 3),
      "ires_trans.0.1.running_mean": (256,),
      "vres_trans.2.0.weight": (256, 480, 3, 3),
      "conv_fuse1.4.0.weight": (256, 512, 3, 3),
      "conv_fuse1.0.0.bias": (256,),
      "conv_fuse2.3.1.weight": (256,),
      "conv_mask.5.0.weight": (256, 256, 3, 3),
      "conv_mask.0.2.bias": (256,),
      "conv_mask.4.4.weight": (1, 256, 1, 1),
      "conv_mask.4.4.bias": (1,),
  }
  for k, v in expected.items():
    assert shapes.get(k) == v, (k, shapes.get(k))
  forbidden = ("txt_encoder.bias_ih_l0", "ires_trans.0.0.bias", "conv_fuse2.4.0.weight",
               "conv_mask.6.0.weight", "conv_mask.0.1.weight", "s_layer5.3.conv1.weight",
               "t_layer1.0.conv3d.bias")
  assert not any(k in shapes for k in forbidden)
  assert not any(k.startswith(("fc.", "conv3d_0c", "s_layer1.3", "t_layer6"))
                 for k in shapes)
  # The I3D / ResNet slices carry exactly the keys of the standalone backbones.
  n_i3d = len([k for k in shapes if k.startswith("t_layer")])
  n_res = len([k for k in shapes if k.startswith("s_layer")])
  assert n_i3d == 344 - 2 and n_res == len(ref.ResNet50().state_dict()) - 2
  assert cstm.txt_encoder.batch_first and cstm.txt_encoder.hidden_size == d
  assert cstm.txt_norm[0].eps == 1e-5


def test_cstm_forward(cstm):
  torch.manual_seed(0)
  video = torch.rand(2, 3, 8, 64, 64)
  txt = torch.randn(2, 20, 300)
  txt[:, 12:] = 0  # pads are zero GloVe vectors
  with torch.no_grad():
    maps, feats = cstm(video, txt, return_features=True)
  assert [tuple(m.shape) for m in maps] == [(2, s, s) for s in (2, 4, 8, 16, 32, 64)]
  assert all(torch.isfinite(m).all() for m in maps)
  sizes = [32, 16, 8, 4, 2]
  t_shapes = [(64, 4), (192, 4), (480, 4), (832, 2), (1024, 1)]
  s_ch = [64, 256, 512, 1024, 2048]
  for k in range(1, 6):
    c, t = t_shapes[k - 1]
    hw = sizes[k - 1]
    assert tuple(feats[f"t{k}"].shape) == (2, c, t, hw, hw)
    assert tuple(feats[f"s{k}"].shape) == (2, s_ch[k - 1], hw, hw)
    assert tuple(feats[f"T{k}"].shape) == tuple(feats[f"S{k}"].shape) == (2, 256, hw, hw)
    # Zero-initialised CMAMs leave the backbones unchanged (§1.4).
    assert torch.equal(feats[f"t{k}"], feats[f"t_pre{k}"])
    assert torch.equal(feats[f"s{k}"], feats[f"s_pre{k}"])
  assert [v.shape[-1] for v in feats["vf"]] == [2, 4, 8, 16, 32, 64]
  assert tuple(feats["txt"].shape) == (2, 512, 20)
  # txt_mask is accepted and ignored.
  with torch.no_grad():
    maps2 = cstm(video, txt, torch.zeros(2, 20))
  assert all(torch.equal(a, b) for a, b in zip(maps, maps2))


def test_cstm_small_layout_and_data_flow():
  torch.manual_seed(0)
  net = ref.CSTMModel(dim_semantic=16, width_mult=0.125).eval()
  assert net.image_dims == [8, 32, 64, 128, 256] and net.dec_dim == 32
  ref.randomize_bn_stats(net, seed=0)
  ref.randomize_cmam_gamma(net, seed=1, std=0.5)
  video = torch.rand(1, 3, 8, 64, 64)
  txt = torch.randn(1, 20, 300)
  with torch.no_grad():
    maps, feats = net(video, txt, return_features=True)
    # CMAMs are active now.
    assert not torch.equal(feats["s3"], feats["s_pre3"])
    assert not torch.equal(feats["t3"], feats["t_pre3"])
    # Skips use the middle temporal slice T // 2 of the post-CMAM feature (§1.0).
    np.testing.assert_allclose(feats["T1"].numpy(),
                               net.vres_trans[0](feats["t1"][:, :, 2]).numpy())
    np.testing.assert_allclose(feats["T4"].numpy(),
                               net.vres_trans[3](feats["t4"][:, :, 1]).numpy())
    # The spatial stream sees only the target frame (index 4 of 8).
    video2 = video.clone()
    video2[:, :, 0] += 1
    _, feats2 = net(video2, txt, return_features=True)
    assert torch.equal(feats["s_pre1"], feats2["s_pre1"])
    assert not torch.equal(feats["t_pre1"], feats2["t_pre1"])
    video3 = video.clone()
    video3[:, :, 4] += 1
    _, feats3 = net(video3, txt, return_features=True)
    assert not torch.equal(feats["s_pre1"], feats3["s_pre1"])
    # Decoder top fusion is [S5, T5] (spatial first).
    f0 = net.conv_fuse1[4](torch.cat([feats["S5"], feats["T5"]], 1))
    np.testing.assert_allclose(maps[0].numpy(), net.conv_mask[0](f0).squeeze(1).numpy(),
                               rtol=1e-5, atol=1e-6)
    # Next level: conv_fuse2[3]([up2(F0), conv_fuse1[3]([T4, S4])]).
    up = nn.functional.interpolate(f0, scale_factor=2, mode="bilinear",
                                   align_corners=True)
    g = net.conv_fuse1[3](torch.cat([feats["T4"], feats["S4"]], 1))
    f1 = net.conv_fuse2[3](torch.cat([up, g], 1))
    np.testing.assert_allclose(feats["vf"][1].numpy(), f1.numpy(), rtol=1e-5, atol=1e-6)
  sd = ref.state_dict_numpy(net)
  assert all(isinstance(v, np.ndarray) for v in sd.values())
  assert not any(k.endswith("num_batches_tracked") for k in sd)


def test_small_and_full_share_key_names(cstm):
  small = ref.CSTMModel(dim_semantic=8, width_mult=0.0625)
  assert list(small.state_dict()) == list(cstm.state_dict())


def test_randomize_bn_stats_and_state_dict_numpy():
  net = ref.CMAM(8, 4, num_dim=3)
  ref.randomize_bn_stats(net, seed=5)
  bns = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
  assert len(bns) == 3
  for m in bns:
    assert torch.all(m.running_var > 0)
    assert not torch.all(m.running_mean == 0) and not torch.all(m.weight == 1)
  sd = ref.state_dict_numpy(net)
  sd2 = ref.state_dict_numpy(ref.randomize_bn_stats(ref.CMAM(8, 4, num_dim=3), seed=5))
  np.testing.assert_array_equal(sd["vt.batch3d.running_var"],
                                sd2["vt.batch3d.running_var"])
  assert "vt.batch3d.num_batches_tracked" not in sd
  assert sd["vt.conv3d.weight"].dtype == np.float32
