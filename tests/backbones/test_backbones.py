"""Backbones: `hf:` towers and LMs from local folders, and the real offline ones on real photos."""

import pytest
import torch

from asemllm.config import FusionConfig, ModelConfig, VisionConfig


def _save_tiny_towers(root):
    """Small random CLIP, SigLIP and DINOv2 vision towers saved as ordinary transformers folders."""
    from transformers import (CLIPVisionConfig, CLIPVisionModel, Dinov2Config, Dinov2Model,
                              SiglipVisionConfig, SiglipVisionModel)

    small = dict(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=3, num_attention_heads=2)
    towers = {"clip": CLIPVisionModel(CLIPVisionConfig(intermediate_size=64, **small)),
              "siglip": SiglipVisionModel(SiglipVisionConfig(intermediate_size=64, **small)),
              "dinov2": Dinov2Model(Dinov2Config(mlp_ratio=2, **small))}
    for name, tower in towers.items():
        tower.save_pretrained(root / name)
    return towers


@pytest.mark.parametrize("kind", ["clip", "siglip", "dinov2"])
def test_hf_towers_fuse_as_identity_at_init(tmp_path, kind):
    from asemllm.backbones import load_vision
    from asemllm.model.ias_vit import IASViT

    _save_tiny_towers(tmp_path)
    tower, mean, std, size = load_vision(f"hf:{tmp_path / kind}", 224)
    assert size == 32  # the tower's own input size wins over the requested one
    vcfg = VisionConfig(backbone=f"hf:{tmp_path / kind}", image_size=size, mean=mean, std=std)
    vit = IASViT(vcfg, FusionConfig(layers=(1, 2), num_heads=2, dim=16, kv_grid=2), tower, kv_dim=5)
    images, sal = torch.rand(2, 3, 32, 32), torch.rand(2, 4, 5)
    with torch.no_grad():
        plain, _ = vit(images, None)
        assert plain.shape == (2, 16, 32)  # CLS (CLIP, DINOv2) dropped; SigLIP has none
        assert (vit(images, sal)[0] - plain).abs().max().item() < 1e-6
        vit.fusion["2"].attn_gate.fill_(1.0)
        assert (vit(images, sal)[0] - plain).abs().max().item() > 1e-4


def test_hf_lm_from_local_folder(tmp_path):
    from asemllm.backbones import load_lm
    from asemllm.backbones.tiny import byte_tokenizer, tiny_lm

    tok = byte_tokenizer()
    tiny_lm(len(tok)).save_pretrained(tmp_path / "lm")
    tok.save_pretrained(tmp_path / "lm")
    lm, tok2 = load_lm(f"hf:{tmp_path / 'lm'}", "<image>")
    assert tok2.convert_tokens_to_ids("<image>") == len(tok2) - 1
    assert lm.get_input_embeddings().num_embeddings == len(tok)  # never resized
    assert tok2.padding_side == "left" and tok2.chat_template


def test_unknown_backbone_names_are_named():
    from asemllm.backbones import load_iasm_encoder, load_lm, load_vision

    with pytest.raises(ValueError, match="'vit-h'"):
        load_vision("vit-h", 224)
    with pytest.raises(ValueError, match="'gpt5'"):
        load_lm("gpt5", "<image>")
    with pytest.raises(ValueError, match="'resnet'"):
        load_iasm_encoder("resnet", 128)


@pytest.mark.slow
def test_efficientnet_lite0_is_pretrained_and_encoder_matches_it():
    """The packaged weights classify a real cat photo as a cat, and our multi-scale encoder
    computes exactly the network's own intermediate features."""
    from efficientnet_lite_pytorch import EfficientNet
    from skimage import data

    from asemllm.backbones.efficientnet import EfficientNetEncoder, weights_path
    from asemllm.images import to_batch

    net = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(weights_path())).eval()
    image = to_batch(data.chelsea(), 224)
    x = (image * 255 - 127) / 128
    with torch.no_grad():
        top5 = net(x).topk(5).indices[0].tolist()
        assert {281, 282, 283, 284, 285} & set(top5[:2]), top5  # ImageNet's domestic cats
        enc = EfficientNetEncoder(224).eval()
        feats = enc(image)
        taps = []
        hooks = [net._blocks[i].register_forward_hook(lambda m, a, o: taps.append(o)) for i in sorted(enc.taps)]
        net.extract_features(x)
        for h in hooks:
            h.remove()
    assert [f.shape[1:] for f in feats] == [(40, 28, 28), (112, 14, 14), (320, 7, 7)]
    for ours, theirs in zip(feats, taps):
        torch.testing.assert_close(ours, theirs)


@pytest.mark.slow
def test_default_model_runs_on_a_real_photo(shared_data):
    """dinov2-s + efficientnet-lite0 + SmolLM2, untrained fusion: runs end to end on a real photo."""
    from asemllm.models import build_model

    model = build_model(ModelConfig())
    photo = shared_data / "photos" / "misc" / "grace_hopper.jpg"
    embeds, log_density = model.encode([photo])[:2]
    assert embeds.shape == (1, 64, 576) and log_density.shape == (1, 1, 224, 224)
    assert torch.isfinite(embeds).all()
    text = model.generate([photo], ["Describe this photo in one sentence."], max_new_tokens=12)[0]
    assert isinstance(text, str) and text.strip()


def test_random_backbones_have_the_offline_ones_shapes():
    """random:dinov2-s and random:smollm2-135m are the converted checkpoints' architectures: the
    same parameter counts (measured on the real dinov2-s and SmolLM2-135M), random weights."""
    from asemllm.backbones import load_lm, load_vision

    tower, mean, std, size = load_vision("random:dinov2-s", 224)
    assert sum(p.numel() for p in tower.parameters()) == 22_056_576 and size == 224
    assert tower.config.patch_size == 14 and (mean, std) == ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    lm, tok = load_lm("random:smollm2-135m", "<image>")
    assert sum(p.numel() for p in lm.parameters()) == 134_515_008  # embeddings tied to the output
    assert lm.get_input_embeddings().num_embeddings == 49152 > len(tok)  # byte tokenizer ids fit
    assert tok.convert_tokens_to_ids("<image>") == len(tok) - 1 and tok.padding_side == "left"
