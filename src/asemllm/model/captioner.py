"""AestheticCaptioner, the ASE-MLLM network: image -> IASM -> IAS-ViT -> projector -> splice -> LM.

The IASM predicts where people look; the IAS-ViT reads the photo with that map fused in; the
projector turns its patches into LM-width image tokens, which are spliced into the prompt at the
image placeholders; the causal LM writes the answer and is trained on the answer tokens only.
A head may be attached (`head`, e.g. the critic's claim head, asemllm.critic.claim_head): it reads
the image tokens the captioner makes (`View`) and may add tokens of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ModelConfig
from .generation import (PASS_COST_TOKENS, STREAM_ROWS, Job, Prefix, Sampling, decode, decode_stream, keeps_logits,
                         length_groups, positions)
from .iasm import IASM, SOURCES, ablation_density, saliency_features, saliency_tokens
from .ias_vit import IASViT
from .language_model import splice_image_embeddings
from .projector import Projector

IGNORE = -100  # label of tokens that carry no loss (prompt, image slots, padding)


@dataclass
class CaptionerOutput:
    loss: torch.Tensor | None
    logits: torch.Tensor  # (B, T, V); with answers only the positions the loss reads (_answer_loss)
    log_density: torch.Tensor | None  # (B, 1, H, W) saliency of the input images
    aux_loss: torch.Tensor | None = None  # the head's part (already inside `loss`)


class View(NamedTuple):
    """What the captioner made of a batch of images before the LM: what an attached head reads."""
    tokens: torch.Tensor  # (B, n, D) projected image tokens
    pixels: torch.Tensor  # (B, 3, S, S) in [0, 1], the square copy the IASM and ViT saw
    log_density: torch.Tensor | None  # (B, 1, S, S) the IASM's map; None without saliency
    density: torch.Tensor | None  # (B, 1, h, w) the map fused into the ViT (IASM or ablation stand-in), IASM grid
    photos: list | None  # the photos as loaded, before resizing; None when given a tensor


def answer_window(labels: torch.Tensor) -> int:
    """labels (B, T), left-padded -> how many last positions' logits the loss needs: from the one
    before the earliest answer token on. The prompt's positions predict nothing the loss counts,
    and their logits (a vocabulary's width a position) are a training step's largest tensor."""
    answered = (labels != IGNORE).any(0).nonzero()
    if len(answered) == 0:
        raise ValueError("no answer token to learn from: every label is IGNORE")
    return labels.shape[1] - max(int(answered[0]), 1) + 1  # position 0 predicts nothing


class Encoded(NamedTuple):
    """Images encoded once, for the head's findings and then the prompts that carry them."""
    embeds: torch.Tensor  # (B, n, D) LM embeddings of the image slots
    log_density: torch.Tensor | None  # (B, 1, H, W)
    aux_logits: torch.Tensor | None  # (B, aux_targets)


class AestheticCaptioner(nn.Module):
    def __init__(self, config: ModelConfig, iasm: IASM, vision: IASViT, lm: nn.Module, tokenizer):
        super().__init__()
        self.config = config
        self.iasm = iasm
        self.vision = vision
        self.lm_width = lm.get_input_embeddings().embedding_dim
        detail = vision.width if config.vision.detail_layer is not None else 0
        self.projector = Projector(config.projector, vision.width, self.lm_width, detail_dim=detail)
        # An optional head over the image tokens (View -> (logits, tokens to append or None), with
        # .extra_tokens and .loss(logits, targets)): the critic's claim head (asemllm.models attaches it).
        # Registered empty here so that its parameters come before the LM's, in data-flow order.
        self.add_module("head", None)
        self.lm = lm
        self.tokenizer = tokenizer
        self.image_token_id = tokenizer.convert_tokens_to_ids(config.lm.image_token)
        if self.image_token_id is None or self.image_token_id == tokenizer.unk_token_id:
            raise ValueError(f"tokenizer has no image token {config.lm.image_token!r}")
        self.low_rank: dict = {}  # layers loaded from low-rank factors: saved as those while unchanged (asemllm.models)
        self.output_ids: torch.Tensor | None = None  # set by restrict_output: logit k is token output_ids[k]
        # for inference: what guesses each prompt's next tokens (.for_prompt -> asemllm.model.drafting.Drafter)
        self.drafter = None

    @property
    def num_image_tokens(self) -> int:
        return self.projector.num_tokens(self.vision.grid) + (self.head.extra_tokens if self.head is not None else 0)

    @property
    def device(self) -> torch.device:
        return self.projector.mlp[0].weight.device

    @property
    def _no_split_modules(self) -> list[str]:
        """The backbones' block classes present in this model, for accelerate's FSDP
        TRANSFORMER_BASED_WRAP (configs/accelerate-fsdp.yaml): each block becomes its own FSDP unit,
        so one block's full weights are gathered at a time. Without it that policy finds no class to
        wrap and the whole model is one unit, gathered whole on every GPU."""
        present = {type(m).__name__ for m in self.modules()}
        names = [n for part in (self.vision.tower, self.lm) for m in part.modules()
                 for n in getattr(m, "_no_split_modules", None) or ()]
        return sorted(n for n in set(names) if n in present)

    # ---- images --------------------------------------------------------------------------
    def encode(self, images) -> Encoded:
        """images (B,3,S,S) in [0,1], or paths / PIL images / uint8 arrays -> Encoded(LM embeddings
        of the image slots (B, n, D), the IASM's log-density or None, the head's logits or None).
        A head that adds tokens (the claim head's aux_token) has them appended as the last slots."""
        view = self.see(images)
        if self.head is None:
            return Encoded(view.tokens, view.log_density, None)
        logits, extra = self.head(view)  # (B, targets), (B, k, D) or None
        tokens = view.tokens if extra is None else torch.cat([view.tokens, extra], dim=1)
        return Encoded(tokens, view.log_density, logits)

    def see(self, images) -> View:
        """The image side: IASM map -> IAS-ViT with the map fused in -> projected image tokens.

        config.saliency picks where the fused map comes from: the IASM, a centre-bias or random
        stand-in (ablations; the IASM still supplies the features), or "none" (plain ViT, no fusion)."""
        pixels, photos = self._loaded(images)
        source = self.config.saliency
        if source not in SOURCES:
            raise ValueError(f"unknown saliency source {source!r}; choose one of {SOURCES}")
        made = {}

        def saliency(vit=None):
            """The IASM's map (reading the ViT's readout-block tokens when it has a readout) ->
            the saliency tokens the fusion blocks read."""
            out = self.iasm(pixels, vit)
            made["log_density"] = out.log_density
            made["density"] = out.grid_density if source == "iasm" else ablation_density(source, out.grid_density)
            return saliency_tokens(saliency_features(out.decoder, made["density"]), self.config.fusion.kv_grid)

        sal = None
        if source != "none":
            # a readout IASM runs inside the ViT's pass, on the tokens of its readout block (IASViT)
            sal = saliency if self.iasm.reads_vit else saliency()
        patches, detail = self.vision(pixels, sal)  # (B, g*g, C) each
        density = made.get("density")
        tokens = self.projector(patches, self.vision.grid, detail, self._patch_density(density, pixels))
        return View(tokens, pixels, made.get("log_density"), density, photos)

    def _patch_density(self, density: torch.Tensor | None, images: torch.Tensor) -> torch.Tensor | None:
        """The saliency density per ViT patch (B, g*g), mean 1; uniform without saliency."""
        if not self.config.projector.saliency_cells:
            return None
        g = self.vision.grid
        if density is None:
            return images.new_ones(images.shape[0], g * g)
        return F.adaptive_avg_pool2d(density, g).flatten(1)  # (B,1,h,w) -> (B, g*g)

    def _loaded(self, images) -> tuple[torch.Tensor, list | None]:
        """-> (the (B, 3, S, S) batch on the model's device, the loaded PIL photos or None when
        `images` is a tensor already)."""
        from ..images import load_image, to_batch

        photos = None
        if not isinstance(images, torch.Tensor):
            photos = [load_image(im) for im in (images if isinstance(images, (list, tuple)) else [images])]
            images = to_batch(photos, self.config.vision.image_size)
        s = self.config.vision.image_size
        if images.ndim != 4 or images.shape[1] != 3 or tuple(images.shape[-2:]) != (s, s):
            raise ValueError(f"images must be (B, 3, {s}, {s}) in [0,1], got {tuple(images.shape)}")
        return images.to(self.device), photos

    # ---- text ----------------------------------------------------------------------------
    def prompt_text(self, prompt: str) -> str:
        """The chat-formatted prompt with one placeholder per image token."""
        content = self.config.lm.image_token * self.num_image_tokens + "\n" + prompt
        return self.tokenizer.apply_chat_template(
            [{"role": "user", "content": content}], tokenize=False, add_generation_prompt=True)

    def tokenize(self, prompts: list[str], answers: list[str] | None = None):
        """Left-padded (input_ids, attention_mask, labels); labels cover the answers (+ end of turn)."""
        tok = self.tokenizer
        rows, labels = [], []
        for i, p in enumerate(prompts):
            ids = tok(self.prompt_text(p), add_special_tokens=False)["input_ids"]
            lab = [IGNORE] * len(ids)
            if answers is not None:
                ans = tok(answers[i] + tok.eos_token, add_special_tokens=False)["input_ids"]
                ids, lab = ids + ans, lab + ans
            rows.append(ids)
            labels.append(lab)
        input_ids, mask = self._left_pad(rows)
        label_t = self._left_pad(labels, IGNORE)[0]
        return input_ids, mask, label_t

    def _left_pad(self, rows: list[list[int]], pad: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Token rows -> (ids (B, T), 0/1 mask (B, T)), padded on the left."""
        pad = self.tokenizer.pad_token_id if pad is None else pad
        T = max(map(len, rows))
        ids = torch.tensor([[pad] * (T - len(r)) + r for r in rows])
        mask = torch.tensor([[0] * (T - len(r)) + [1] * len(r) for r in rows])
        return ids.to(self.device), mask.to(self.device)

    def _embed(self, images, prompts, answers=None, repeat: int = 1, encoded: Encoded | None = None):
        """`repeat`: each image serves that many consecutive prompts (encoded once, not per prompt);
        `encoded`: the images' encoding when the caller already has it (the findings needed it)."""
        image_embeds, log_density, aux = encoded or self.encode(images)
        image_embeds = image_embeds.repeat_interleave(repeat, dim=0)  # (B*repeat, n, D)
        if len(prompts) != image_embeds.shape[0]:
            raise ValueError(f"{image_embeds.shape[0] // repeat} images x {repeat} but {len(prompts)} prompts")
        input_ids, mask, labels = self.tokenize(prompts, answers)
        embeds = splice_image_embeddings(self.lm, input_ids, image_embeds, self.image_token_id)
        return embeds, mask, labels, log_density, aux

    # ---- training and generation ---------------------------------------------------------
    def forward(self, images, prompts: list[str], answers: list[str] | None = None,
                targets: torch.Tensor | None = None) -> CaptionerOutput:
        """Images -> image tokens (encode) spliced into the prompts -> LM. `answers`: the next-token
        loss over them; `targets` (B, aux_targets) in [0, 1], NaN where unknown: adds the head's loss."""
        if answers is not None and self.output_ids is not None:
            raise ValueError("this model's output layer was cut to the tokens it writes (restrict_output), "
                             "for inference only: it cannot be trained")
        embeds, mask, labels, log_density, aux_logits = self._embed(images, prompts, answers)
        if answers is None:
            logits = self.lm(inputs_embeds=embeds, attention_mask=mask, position_ids=positions(mask)).logits
            loss = None
        else:
            logits, loss = self._answer_loss(embeds, mask, labels)
        aux = None
        if targets is not None:
            if self.head is None:
                raise ValueError("targets given, but this model has no auxiliary head (config.aux_targets = 0)")
            aux = self.head.loss(aux_logits, targets)
            loss = aux if loss is None else loss + self.config.aux_weight * aux
        return CaptionerOutput(loss, logits, log_density, aux)

    def _answer_loss(self, embeds, mask, labels) -> tuple[torch.Tensor, torch.Tensor]:
        """Next-token loss over the answers (logits at t predict labels at t+1), the LM run on the
        rows in groups of similar length (`length_groups`), each cut to its longest row: critiques
        differ in length, so much of a batch is left padding. -> (logits (B, W, V)
        over the last W positions, those a row's group did not score 0; the loss: the mean over
        all answer tokens, as one pass over the whole batch gives it)."""
        keeps = keeps_logits(self.lm)
        # one pass on a GPU: a training step there is bound by kernel launches, where a second pass
        # costs more than the padding it saves
        pass_cost = PASS_COST_TOKENS if mask.device.type == "cpu" else 10 ** 9
        total, count, scored = 0.0, 0, []
        for rows in length_groups(mask.sum(1).tolist(), pass_cost):
            rows = torch.tensor(sorted(rows), device=mask.device)  # batch order: one group is the batch as given
            start = int((mask[rows].sum(0) == 0).sum())  # the group's common left padding
            e, m, lab = embeds[rows, start:], mask[rows, start:], labels[rows, start:]
            keep = answer_window(lab) if keeps else 0  # 0: all positions
            logits = self.lm(inputs_embeds=e, attention_mask=m, position_ids=positions(m),
                             **({"logits_to_keep": keep} if keep else {})).logits  # (b, keep or t, V)
            target = lab[:, 1 - keep:]
            total = total + F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), target.flatten(),
                                            ignore_index=IGNORE, reduction="sum")
            count += int((target != IGNORE).sum())
            scored.append((rows, logits))
        if len(scored) == 1:
            return scored[0][1], total / count
        width = max(logits.shape[1] for _, logits in scored)
        out = scored[0][1].new_zeros(mask.shape[0], width, scored[0][1].shape[-1])
        for rows, logits in scored:  # right-aligned: every row ends at the last position
            out[rows, width - logits.shape[1]:] = logits.detach()
        return out, total / count

    @torch.no_grad()
    def generate(self, images, prompts: list[str], max_new_tokens: int = 64, do_sample: bool = False,
                 temperature: float = 1.0, top_p: float = 1.0, use_cache: bool = True,
                 seed: int | None = None, ignore_eos: bool = False, repeat: int = 1,
                 encoded: Encoded | None = None) -> list[str]:
        return self.tokenizer.batch_decode(
            self.generate_ids(images, prompts, Sampling(max_new_tokens, do_sample, temperature, top_p, ignore_eos),
                              use_cache=use_cache, seed=seed, repeat=repeat, encoded=encoded),
            skip_special_tokens=True)

    @torch.no_grad()
    def generate_ids(self, images, prompts: list[str], sampling: Sampling, use_cache: bool = True,
                     seed: int | None = None, repeat: int = 1, encoded: Encoded | None = None) -> torch.Tensor:
        prefix, rest, mask = self._prefix_embed(images, prompts, repeat, encoded)
        gen = torch.Generator(device=self.device).manual_seed(seed) if seed is not None else None
        return decode(self.lm, rest, mask, self._eos_ids(), self.tokenizer.pad_token_id, sampling,
                      use_cache=use_cache, generator=gen, prefix=prefix, vocab=self.output_ids,
                      drafters=self._drafters(prompts, sampling, use_cache))

    def stream_ids(self, requests, sampling: Sampling, rows: int = STREAM_ROWS, seed: int | None = None):
        """Requests (tag, image, its prompts, its `Encoded` or None), an iterable read as decoding
        has room -> (tag, each prompt's new token ids as a list) as each request's last prompt
        ends: continuous batching (`generation.decode_stream`), up to `rows` prompts decoding at
        once. An image's prompts share its prefix, as in `generate_ids(image, prompts,
        repeat=len(prompts))`, whose tokens these are when greedy (up to float ties)."""
        def jobs():
            for tag, image, prompts, encoded in requests:
                prefix, rest, mask = self._prefix_embed(image, prompts, len(prompts), encoded)
                yield Job(tag, rest, mask, prefix.embeds, self._drafters(prompts, sampling, True))

        gen = torch.Generator(device=self.device).manual_seed(seed) if seed is not None else None
        return decode_stream(self.lm, jobs(), self._eos_ids(), sampling, self.tokenizer.pad_token_id, rows=rows,
                             generator=gen, vocab=self.output_ids)

    def _drafters(self, prompts: list[str], sampling: Sampling, use_cache: bool):
        """Each prompt's guesser of its next tokens, when decoding can check guesses (greedy, cached)."""
        if self.drafter is None or sampling.do_sample or not use_cache:
            return None
        return [self.drafter.for_prompt(p) for p in prompts]

    def restrict_output(self, ids: list[int]) -> None:
        """Decode over the tokens `ids` alone (plus the end of turn), for inference: a model that
        only ever learned to write those (the teacher's critiques, `asemllm.critic.vocabulary`)
        scores a few hundred tokens per step instead of the LM's whole vocabulary."""
        from .language_model import restrict_output

        if self.output_ids is not None:
            raise ValueError(f"the output layer is already cut to {len(self.output_ids)} tokens")
        self.output_ids = restrict_output(self.lm, sorted(set(ids) | self._eos_ids()))

    def _prefix_embed(self, images, prompts, repeat: int, encoded: Encoded | None):
        """-> (Prefix: each image's chat start and image slots, once; what follows them per prompt
        (B, T, D), left-padded; its mask (B, T)). Every prompt starts alike up to its image slots,
        so a photo's prompts (its aspects) share that part: the decoder reads it once per photo."""
        image_embeds = (encoded or self.encode(images)).embeds  # (P, n, D)
        P = image_embeds.shape[0]
        if len(prompts) != P * repeat:
            raise ValueError(f"{P} images x {repeat} but {len(prompts)} prompts")
        rows = [self.tokenizer(self.prompt_text(p), add_special_tokens=False)["input_ids"] for p in prompts]
        cut = len(rows[0]) - rows[0][::-1].index(self.image_token_id)  # just past the last image slot
        if any(r[:cut] != rows[0][:cut] for r in rows):
            raise ValueError("the prompts' chat starts differ before the image slots: cannot share them")
        head = torch.tensor([rows[0][:cut]] * P, device=self.device)  # (P, Tp)
        prefix = splice_image_embeddings(self.lm, head, image_embeds, self.image_token_id)
        rest_ids, mask = self._left_pad([r[cut:] for r in rows])
        rows_of = torch.arange(P, device=self.device).repeat_interleave(repeat)  # prompt -> its image
        return Prefix(prefix, rows_of), self.lm.get_input_embeddings()(rest_ids), mask

    def _eos_ids(self) -> set[int]:
        ids = {self.tokenizer.eos_token_id}
        end = self.tokenizer.convert_tokens_to_ids("<|im_end|>")  # ChatML end of turn
        if isinstance(end, int) and end != self.tokenizer.unk_token_id:
            ids.add(end)
        return {i for i in ids if i is not None}
