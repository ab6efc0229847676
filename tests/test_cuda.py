"""The model and the training loop on a CUDA GPU agree with the CPU: forward/backward in fp32,
bf16 autocast, greedy decoding (plain and with guessed tokens), and training with bf16,
checkpoints and resume (and, on two GPUs, sharded: FSDP).

Tiny random models with every optional part on (early-block statistics, saliency cells, auxiliary
head and token, LoRA) on scikit-image's real photos: no weight packages and no shared data needed,
so this file runs on a bare GPU machine. Skipped where torch sees no GPU.
"""

import json
import math

import pytest
import torch

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="needs a CUDA GPU (run on a GPU machine: see README, Tests)")

CUDA = "cuda"
PHOTOS = ("astronaut", "coffee")
CAPTIONS = ("an astronaut in a white suit beside a flag", "a cup of coffee on a saucer")
# 3 auxiliary targets per photo, NaN = unknown: the loss must skip those on both devices alike
TARGETS = ((1.0, math.nan, 0.0), (math.nan, 0.0, 1.0))


@pytest.fixture
def exact_fp32():
    """fp32 on the GPU as on the CPU: cuDNN convolutions use TF32 by default (10-bit mantissa),
    which alone would put the IASM's and the ViT's patch embedding 1e-3 off."""
    old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


def _config():
    from asemllm.config import tiny_config

    cfg = tiny_config()
    cfg.vision.detail_layer, cfg.projector.saliency_cells = 0, True
    cfg.aux_targets, cfg.aux_token = 3, True
    return cfg


def _twins(lm_std: float | None = None):
    """Two identical models, one per device. Not copy.deepcopy: IAS-ViT's forward hooks are
    closures over the module they were made for, so a deep copy would still fuse and capture
    into the original."""
    a, b = _model(lm_std), _model(lm_std)
    b.load_state_dict(a.state_dict())
    return a, b


def _model(lm_std: float | None = None):
    """The tiny model in the finetune stage (LoRA added), with every trainable part on the loss's
    path: fusion gates open and LoRA B non-zero (both start at 0, which would leave parts of the
    gradient zero on both devices and the comparison empty)."""
    from asemllm.models import build_model
    from asemllm.stages import set_stage

    torch.manual_seed(0)
    model = build_model(_config())
    set_stage(model, "finetune")
    with torch.no_grad():
        for block in model.vision.fusion.values():
            block.attn_gate.fill_(0.5)
            block.mlp_gate.fill_(0.5)
        for name, p in model.lm.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.02)
            elif lm_std is not None and p.ndim == 2:
                p.normal_(0, lm_std)
    return model


def _batch():
    from PIL import Image
    from skimage import data

    photos = [Image.fromarray(getattr(data, n)()) for n in PHOTOS]
    cfg = _config()
    return photos, [cfg.prompts["composition"], cfg.prompts["focus"]], list(CAPTIONS), torch.tensor(TARGETS)


def _loss_and_grads(model, device: str, bf16: bool = False):
    """-> (loss, {trainable parameter name: gradient on the CPU}) of one forward/backward."""
    from asemllm.stages import train_mode

    photos, prompts, answers, targets = _batch()
    model = model.to(device)
    train_mode(model)
    model.zero_grad()
    with torch.autocast(device, dtype=torch.bfloat16, enabled=bf16):
        loss = model(photos, prompts, answers, targets=targets.to(device)).loss
    loss.backward()
    grads = {n: p.grad.detach().float().cpu() for n, p in model.named_parameters()
             if p.requires_grad and p.grad is not None}
    return loss.item(), grads


def _worst(a: dict, b: dict, rtol: float, atol_share: float) -> tuple[str, float]:
    """The parameter whose gradients differ most, and by how much: max |a-b| / (atol + rtol |b|),
    atol = atol_share of that gradient's largest entry (gradients differ in scale by 1e4)."""
    worst = ("", 0.0)
    for name, g in b.items():
        atol = atol_share * g.abs().max().item() + 1e-12
        ratio = ((a[name] - g).abs() / (atol + rtol * g.abs())).max().item()
        worst = max(worst, (name, ratio), key=lambda x: x[1])
    return worst


def test_forward_backward_match_the_cpu_in_fp32(exact_fp32):
    cpu, gpu = _twins()
    loss_cpu, g_cpu = _loss_and_grads(cpu, "cpu")
    loss_gpu, g_gpu = _loss_and_grads(gpu, CUDA)
    assert loss_gpu == pytest.approx(loss_cpu, rel=1e-4)
    trainable = {n for n, p in cpu.named_parameters() if p.requires_grad}
    assert set(g_cpu) == set(g_gpu) == trainable  # every trainable part got a gradient, on both
    assert sum(g.abs().sum().item() > 0 for g in g_cpu.values()) >= 0.9 * len(g_cpu)  # and not zeros
    name, ratio = _worst(g_gpu, g_cpu, rtol=1e-3, atol_share=1e-4)
    assert ratio <= 1, f"gradient of {name} differs between CUDA and CPU by {ratio:.2f}x the tolerance"


def test_bf16_autocast_is_close_to_fp32_and_finite(exact_fp32):
    model = _model().to(CUDA)
    loss32, g32 = _loss_and_grads(model, CUDA)
    loss16, g16 = _loss_and_grads(model, CUDA, bf16=True)
    assert loss16 == pytest.approx(loss32, rel=0.02)
    bad = [n for n, g in g16.items() if not torch.isfinite(g).all()]
    assert not bad, f"non-finite bf16 gradients: {bad[:5]}"
    # the whole gradient points the same way (bf16 keeps 8 bits of mantissa: a few per cent off)
    a, b = torch.cat([g.flatten() for g in g16.values()]), torch.cat([g32[n].flatten() for n in g16])
    assert torch.nn.functional.cosine_similarity(a, b, dim=0).item() > 0.95


def _greedy_on_both():
    """-> (the GPU twin, photos, prompts, sampling, the CPU twin's greedy ids, checked free of
    near-ties). LM weights of std 0.2 instead of 0.02: varied tokens (at 0.02 every step picks the
    same byte), so a wrong image token or KV cache on the GPU would show in the ids."""
    from asemllm.model.generation import Sampling

    cpu, gpu = _twins(lm_std=0.2)
    cpu.eval(), gpu.to(CUDA).eval()
    photos, prompts, _, _ = _batch()
    sampling = Sampling(16, ignore_eos=True)
    ids_cpu = cpu.generate_ids(photos, prompts, sampling)
    _assert_no_near_ties(cpu, photos, prompts, ids_cpu)
    return gpu, photos, prompts, sampling, ids_cpu


def test_greedy_generation_matches_the_cpu(exact_fp32):
    gpu, photos, prompts, sampling, ids_cpu = _greedy_on_both()
    ids_gpu = gpu.generate_ids(photos, prompts, sampling).cpu()
    assert len(set(ids_cpu.flatten().tolist())) > 4  # not one token repeated
    assert ids_gpu.tolist() == ids_cpu.tolist()


def test_drafted_generation_on_cuda_writes_what_the_cpu_writes(exact_fp32):
    """Guessed tokens on the GPU: a pass reads several tokens a row, masks the rejected ones' positions
    and cuts the cache. The text must be the CPU's plain greedy text, in fewer passes."""
    from asemllm.model.drafting import Drafter

    gpu, photos, prompts, sampling, ids_cpu = _greedy_on_both()
    passes = []
    gpu.lm.register_forward_hook(lambda *_: passes.append(1))
    plain = gpu.generate_ids(photos, prompts, sampling).cpu()
    plain_passes = len(passes)
    # each row's first 10 tokens, then a wrong turn: guesses kept, cut short and rejected
    gpu.drafter = Drafter([row[:10] + [0, 0, 0] for row in ids_cpu.tolist()], key=2, length=6)
    passes.clear()
    drafted = gpu.generate_ids(photos, prompts, sampling).cpu()
    assert drafted.tolist() == plain.tolist() == ids_cpu.tolist()
    assert len(passes) < plain_passes, (len(passes), plain_passes)


@torch.no_grad()
def _assert_no_near_ties(model, photos, prompts, ids, margin: float = 1e-3):
    """Greedy picks must not be near-ties on the CPU, or float noise could flip them on the GPU."""
    from asemllm.model.generation import positions

    embeds, mask, *_ = model._embed(photos, prompts)
    embeds = torch.cat([embeds, model.lm.get_input_embeddings()(ids)], dim=1)
    mask = torch.cat([mask, torch.ones_like(ids)], dim=1)
    logits = model.lm(inputs_embeds=embeds, attention_mask=mask, position_ids=positions(mask)).logits
    picks = logits[:, -ids.shape[1] - 1:-1]  # the logits that chose each new token
    assert torch.equal(picks.argmax(-1), ids)  # the cached decoding is greedy over the full sequence
    top2 = picks.topk(2, dim=-1).values
    assert (top2[..., 0] - top2[..., 1]).min().item() > margin, "near-tie in greedy decoding: change the seed"


def _records(tmp_path):
    """4 of scikit-image's photos saved as JPEG files, with a critique and 3 targets each."""
    from PIL import Image
    from skimage import data

    from asemllm.data.records import CritiqueRecord, write_jsonl

    captions = {"astronaut": "an astronaut beside a flag", "chelsea": "a tabby cat on a blanket",
                "coffee": "a cup of coffee, a saucer", "rocket": "a rocket on its launch pad"}
    records = []
    for i, (name, text) in enumerate(captions.items()):
        path = tmp_path / f"{name}.jpg"
        Image.fromarray(getattr(data, name)()).convert("RGB").save(path, quality=90)
        records.append(CritiqueRecord(id=name, image=str(path), split="train", critiques={"overall": [text]},
                                      meta={"targets": [float(i % 2), None, 1.0]}))
    write_jsonl(records, tmp_path / "train.jsonl")
    return tmp_path / "train.jsonl"


def _settings(data, out, **kw):
    from asemllm.training.settings import TrainSettings

    return TrainSettings.from_dict({"out": str(out), "model": _config().to_dict(), "stage": "finetune",
                                   "data": {"train": str(data)}, "batch_size": 2, "lr": 3e-3, "max_steps": 4,
                                   "save_every": 2, "log_every": 1, "mixed_precision": "bf16", **kw})


def test_training_loop_runs_checkpoints_and_resumes_on_cuda(tmp_path):
    from asemllm.training.loop import train

    data = _records(tmp_path)
    torch.cuda.reset_peak_memory_stats()
    train(_settings(data, tmp_path / "a"), log=lambda *_: None)  # uninterrupted, for comparison
    assert torch.cuda.max_memory_allocated() > 0  # it trained on the GPU, not the CPU
    train(_settings(data, tmp_path / "b", session_steps=2), log=lambda *_: None)
    assert (tmp_path / "b" / "checkpoints" / "step-2" / "trainable.safetensors").is_file()
    assert not (tmp_path / "b" / "model").exists()
    said = []
    state = train(_settings(data, tmp_path / "b"), log=said.append)
    assert any("resumed from" in s and "step-2" in s for s in said), said
    assert state["step"] == 4 and (tmp_path / "b" / "model" / "config.json").is_file()
    a, b = _log(tmp_path / "a"), _log(tmp_path / "b")
    assert [r["step"] for r in b] == [1, 2, 3, 4] and all(math.isfinite(r["loss"]) for r in a + b)
    assert all(0 < r["aux_loss"] < r["loss"] for r in b)
    # the resumed steps continue the same run (GPU atomics and bf16 allow small differences)
    assert [r["loss"] for r in b] == pytest.approx([r["loss"] for r in a], rel=0.02)


def _log(out):
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


@pytest.mark.skipif(torch.cuda.device_count() < 2,
                    reason="FSDP resume needs 2 GPUs: accelerate runs FSDP on GPUs only "
                           "(tests/training/test_fsdp_resume.py checks the checkpoints under FSDP on the CPU)")
def test_fsdp_training_resumes_from_its_checkpoint_on_two_gpus(tmp_path):
    """configs/accelerate-fsdp.yaml on 2 GPUs: 4 steps in one go vs 2, stopped, and 2 more. Each
    rank keeps its own shard's optimiser moments; the checkpoint holds the gathered LoRA weights."""
    import subprocess
    import sys
    from pathlib import Path

    from safetensors.torch import load_file

    from asemllm.models import load_model

    data = _records(tmp_path)
    fsdp = Path(__file__).resolve().parents[1] / "configs" / "accelerate-fsdp.yaml"

    def launch(name: str, **kw) -> None:
        config = tmp_path / f"{name}-{len(kw)}.json"
        config.write_text(json.dumps(_settings(data, tmp_path / name, **kw).to_dict()))
        res = subprocess.run([sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(fsdp),
                              "--num_processes", "2", "-m", "asemllm.cli", "train", "--config", str(config)],
                             capture_output=True, text=True, timeout=900)
        assert res.returncode == 0, res.stderr[-3000:]

    launch("whole")
    launch("parts", session_steps=2)
    stopped = tmp_path / "parts" / "checkpoints" / "step-2"
    assert {"optim-0.pt", "optim-1.pt"} <= {p.name for p in stopped.glob("*.pt")}
    assert any("lora_B" in k for k in load_file(str(stopped / "trainable.safetensors")))
    launch("parts")
    a, b = _log(tmp_path / "whole"), _log(tmp_path / "parts")
    assert [r["step"] for r in b] == [1, 2, 3, 4]
    assert [r["loss"] for r in b] == pytest.approx([r["loss"] for r in a], rel=0.02)  # bf16, GPU reductions
    whole, parts = load_model(tmp_path / "whole" / "model"), load_model(tmp_path / "parts" / "model")
    for (k, x), y in zip(whole.state_dict().items(), parts.state_dict().values()):
        if "lora_" in k:
            torch.testing.assert_close(x, y, rtol=0.02, atol=1e-3 * x.abs().max().item(), msg=lambda m: f"{k}: {m}")
