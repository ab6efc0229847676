"""AestheticCaptioner: IASM + IAS-ViT + projector + causal LM, trained on the answer tokens only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ModelConfig
from .generation import Prefix, Sampling, decode, keeps_logits, positions
from .iasm import IASM, SOURCES, ablation_density, saliency_features, saliency_tokens
from .ias_vit import IASViT
from .language_model import splice_image_embeddings
from .projector import Projector
from .native import NATIVE_DIM, native_stats
from .stats import SHAPE, STATS_DIM, photo_stats, shape_columns

IGNORE = -100  # label of tokens that carry no loss (prompt, image slots, padding)


@dataclass
class CaptionerOutput:
    loss: torch.Tensor | None
    logits: torch.Tensor  # (B, T, V); with answers only the positions the loss reads (_answer_loss)
    log_density: torch.Tensor | None  # (B, 1, H, W) saliency of the input images
    aux_loss: torch.Tensor | None = None  # the auxiliary head's part (already inside `loss`)


def answer_window(labels: torch.Tensor) -> int:
    """labels (B, T), left-padded -> how many last positions' logits the loss needs: from the one
    before the earliest answer token on. The prompt's positions predict nothing the loss counts,
    and their logits (49,152 a position: the step's largest tensor) cost the critic's recipe 14%
    of a training step on 2 cores."""
    answered = (labels != IGNORE).any(0).nonzero()
    if len(answered) == 0:
        raise ValueError("no answer token to learn from: every label is IGNORE")
    return labels.shape[1] - max(int(answered[0]), 1) + 1  # position 0 predicts nothing


# What running the LM once more costs, in positions of padding. On real batches of the critic's
# training (2 cores): 48 to 200 all gave 9.1-9.2 s a step against 11.7 as one batch; 0 (nearly a
# row at a time) 10.7: small products run slower.
GROUP_OVERHEAD = 64


def length_groups(lengths: list[int], overhead: int) -> list[list[int]]:
    """Row indices cut into groups of similar length, each to be run padded to its longest row:
    the cut (of the rows sorted by length) that runs the fewest positions, counting `overhead`
    for each group. Shortest group first; a group's rows in their batch order."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    cost, cut = [0] + [float("inf")] * len(order), [0] * (len(order) + 1)
    for j in range(1, len(order) + 1):  # cost[j]: the best cut of the j shortest rows
        for i in range(j):
            c = cost[i] + (j - i) * lengths[order[j - 1]] + overhead
            if c < cost[j]:
                cost[j], cut[j] = c, i
    groups, j = [], len(order)
    while j:
        groups.append(sorted(order[cut[j]:j]))
        j = cut[j]
    return groups[::-1]


class Encoded(NamedTuple):
    """Images encoded once, for the head's findings and then the prompts that carry them."""
    embeds: torch.Tensor  # (B, n, D) LM embeddings of the image slots
    log_density: torch.Tensor | None  # (B, 1, H, W)
    aux_logits: torch.Tensor | None  # (B, aux_targets)


def masked_bce(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy over the entries whose target is known (NaN = unknown)."""
    logits = logits.float()
    known = ~targets.isnan()
    return F.binary_cross_entropy_with_logits(logits[known], targets[known].to(logits.dtype))


def _aux_head(width: int, config: ModelConfig) -> nn.Module | None:
    """(B, n*D) image tokens -> (B, aux_targets) logits: linear, or an MLP with aux_hidden units."""
    if not config.aux_targets:
        return None
    if not config.aux_hidden:
        return nn.Linear(width, config.aux_targets)
    return nn.Sequential(nn.Linear(width, config.aux_hidden), nn.GELU(), nn.Linear(config.aux_hidden, config.aux_targets))


def stats_head(config: ModelConfig) -> nn.Module | None:
    """(B, STATS_DIM) photo statistics -> (B, aux_targets) logits, added to the tokens' head: a branch
    of its own, so ~100 statistics are not drowned among thousands of token features."""
    if not (config.aux_targets and config.aux_stats):
        return None
    hidden = config.aux_hidden or 128
    return nn.Sequential(nn.Linear(STATS_DIM, hidden), nn.GELU(), nn.Linear(hidden, config.aux_targets))


def native_head(config: ModelConfig) -> nn.Module | None:
    """(B, NATIVE_DIM) native-resolution statistics -> the logits of the targets config.aux_native,
    which replace the other branches' for those targets: a claim about noise is decided from the
    noise measured where it can be seen, and no other claim moves. (Inside the statistics MLP the
    same numbers also moved claims about placement, tones and clutter on the unseen photos; a
    linear branch added to the others left 8 of 29 "noisy" verdicts wrong, the 224 px guess
    outweighing it.)"""
    if not (config.aux_targets and config.aux_native):
        return None
    _check_replaced(config, "aux_native")
    return nn.Linear(NATIVE_DIM, len(config.aux_native))


def _check_replaced(config: ModelConfig, field: str) -> None:
    """The targets a replacing branch decides (config.<field>) are the head's, and each target is
    decided by one such branch at most (else the later would silently win)."""
    bad = [i for i in getattr(config, field) if not 0 <= i < config.aux_targets]
    if bad:
        raise ValueError(f"{field} targets {bad} are not among the head's {config.aux_targets}")
    both = sorted(set(config.aux_geometry) & set(config.aux_native))
    if both:
        raise ValueError(f"targets {both} are in both aux_native and aux_geometry: one branch decides a target")


def geometry_head(config: ModelConfig) -> nn.Module | None:
    """(B, len(SHAPE)) numbers of the saliency map's geometry -> the logits of the targets
    config.aux_geometry, which replace the other branches' for those targets. "Off-centre" is a band
    of two of them (centre offset 0.05-0.15 and no thirds point within 0.10); among ~100 statistics
    the statistics MLP placed such bands loosely (on NUS 401-500 the head named the new placement of
    a moved subject 35 times in 50 with these numbers exact in its input); alone, a small MLP learns
    them (held-out accuracy 98.5-100% on the ten claims)."""
    if not (config.aux_targets and config.aux_geometry):
        return None
    if not config.aux_stats:
        raise ValueError("aux_geometry reads the photo statistics: it needs aux_stats")
    _check_replaced(config, "aux_geometry")
    return nn.Sequential(nn.Linear(len(SHAPE), 64), nn.GELU(), nn.Linear(64, len(config.aux_geometry)))


class AestheticCaptioner(nn.Module):
    def __init__(self, config: ModelConfig, iasm: IASM, vision: IASViT, lm: nn.Module, tokenizer):
        super().__init__()
        self.config = config
        self.iasm = iasm
        self.vision = vision
        dim = lm.get_input_embeddings().embedding_dim
        detail = vision.width if config.vision.detail_layer is not None else 0
        self.projector = Projector(config.projector, vision.width, dim, detail_dim=detail)
        self.aux_head_width = self.projector.num_tokens(vision.grid) * dim  # the tokens' part of its input
        self.aux_head = _aux_head(self.aux_head_width, config)
        self.aux_stats_head = stats_head(config)
        self.aux_native_head = native_head(config)
        self.aux_geometry_head = geometry_head(config)
        for need in ("aux_token", "findings"):
            if getattr(config, need) and not config.aux_targets:
                raise ValueError(f"{need} needs an auxiliary head: set aux_targets > 0")
        self.aux_embed = nn.Linear(config.aux_targets, dim) if config.aux_token else None
        self.lm = lm
        self.tokenizer = tokenizer
        self.image_token_id = tokenizer.convert_tokens_to_ids(config.lm.image_token)
        if self.image_token_id is None or self.image_token_id == tokenizer.unk_token_id:
            raise ValueError(f"tokenizer has no image token {config.lm.image_token!r}")
        self.low_rank: dict = {}  # layers loaded from low-rank factors: saved as those while unchanged (checkpoint)
        self.output_ids: torch.Tensor | None = None  # set by restrict_output: logit k is token output_ids[k]
        # for inference: what guesses each prompt's next tokens (.for_prompt -> asemllm.model.drafting.Drafter)
        self.drafter = None

    @property
    def num_image_tokens(self) -> int:
        return self.projector.num_tokens(self.vision.grid) + (self.aux_embed is not None)

    @property
    def device(self) -> torch.device:
        return self.projector.mlp[0].weight.device

    # ---- images --------------------------------------------------------------------------
    def encode_images(self, images) -> tuple[torch.Tensor, torch.Tensor | None]:
        """images (B,3,S,S) in [0,1] (or PIL/paths) -> (LM embeddings (B,n,D), log-density or None).

        config.saliency picks where the map comes from: the IASM, a centre-bias or random stand-in
        (ablations; the IASM still supplies the features), or "none" (plain ViT, no fusion).
        """
        embeds, log_density, _ = self.encode(images)
        return embeds, log_density

    def head_inputs(self, images) -> torch.Tensor:
        """What the auxiliary head reads: (B, n*D) image tokens [+ (B, STATS_DIM) photo statistics]
        [+ (B, NATIVE_DIM) native-resolution statistics]."""
        tokens, _, stats = self._project(images)
        return self._head_input(tokens, stats)

    @staticmethod
    def _head_input(tokens: torch.Tensor, stats: torch.Tensor | None) -> torch.Tensor:
        flat = tokens.flatten(1)  # (B, n, D) -> (B, n*D)
        return flat if stats is None else torch.cat([flat, stats.to(flat.dtype)], dim=1)

    def aux_logits(self, head_input: torch.Tensor) -> torch.Tensor:
        """head_inputs() rows -> (B, aux_targets) logits: the tokens' head [+ the statistics' head],
        [the native and geometry heads' for their targets], each over its slice of the row."""
        start = self.aux_head_width
        logits = self.aux_head(head_input[:, :start])
        if self.aux_stats_head is not None:
            logits = logits + self.aux_stats_head(head_input[:, start:start + STATS_DIM])
            start += STATS_DIM
        if self.aux_native_head is not None:  # those targets' logits come from it alone
            logits = logits.index_copy(1, torch.tensor(self.config.aux_native, device=logits.device),
                                       self.aux_native_head(head_input[:, start:start + NATIVE_DIM]).to(logits.dtype))
        if self.aux_geometry_head is not None:  # its columns are inside the statistics' slice
            shape = head_input[:, [self.aux_head_width + c for c in shape_columns()]]  # (B, len(SHAPE))
            logits = logits.index_copy(1, torch.tensor(self.config.aux_geometry, device=logits.device),
                                       self.aux_geometry_head(shape).to(logits.dtype))
        return logits

    @torch.no_grad()
    def aux_probabilities(self, images, encoded: Encoded | None = None) -> torch.Tensor:
        """The auxiliary head's (B, aux_targets) probabilities for `images` (or their `encoded`)."""
        if self.aux_head is None:
            raise ValueError("this model has no auxiliary head (config.aux_targets = 0)")
        return torch.sigmoid((encoded or self.encode(images)).aux_logits.float())

    def encode(self, images) -> Encoded:
        """-> Encoded(LM embeddings (B,n,D), log-density or None, auxiliary logits (B, aux_targets) or None).
        With aux_token, the head's probabilities, projected to the LM width, are the last image
        token: one slot that says which claims the image supports, easy for the LM to find."""
        tokens, log_density, stats = self._project(images)
        aux = None
        if self.aux_head is not None:
            aux = self.aux_logits(self._head_input(tokens, stats))  # -> (B, aux_targets)
            if self.aux_embed is not None:
                tokens = torch.cat([tokens, self.aux_embed(torch.sigmoid(aux)).unsqueeze(1)], dim=1)
        return Encoded(tokens, log_density, aux)

    def _project(self, images):
        """-> (projected tokens (B, n, D), log-density or None, photo statistics or None)."""
        images, photos = self._loaded(images)
        source = self.config.saliency
        if source not in SOURCES:
            raise ValueError(f"unknown saliency source {source!r}; choose one of {SOURCES}")
        sal, log_density, density = None, None, None
        if source != "none":
            out = self.iasm(images)
            log_density = out.log_density
            density = out.grid_density if source == "iasm" else ablation_density(source, out.grid_density)
            sal = saliency_tokens(saliency_features(out.decoder, density), self.config.fusion.kv_grid)
        patches, detail = self.vision(images, sal)  # (B, g*g, C) each
        tokens = self.projector(patches, self.vision.grid, detail, self._patch_density(density, images))
        return tokens, log_density, self._stats(images, log_density, density, photos)

    def _stats(self, images, log_density, density, photos) -> torch.Tensor | None:
        """The head's photo statistics over the saliency map the model uses (none: a uniform map),
        then those of the `photos` as loaded, before resizing; None when it reads neither."""
        parts = []
        if self.aux_stats_head is not None:
            parts.append(self._photo_stats(images, log_density, density))
        if self.aux_native_head is not None:
            if photos is None:
                raise ValueError("this model's head reads the photos at native resolution "
                                 "(config.aux_native): pass paths, PIL images or arrays, not a resized tensor")
            parts.append(native_stats(photos).to(images.device))
        return torch.cat(parts, dim=1) if parts else None

    def _photo_stats(self, images, log_density, density) -> torch.Tensor:
        if density is not None and self.config.saliency != "iasm":  # a stand-in map on the grid
            density = F.interpolate(density, size=images.shape[-2:], mode="bilinear", align_corners=False)
        elif density is not None:
            density = log_density.exp()  # (B, 1, S, S), the IASM's map at full resolution
        return photo_stats(images, density)

    def _patch_density(self, density: torch.Tensor | None, images: torch.Tensor) -> torch.Tensor | None:
        """The saliency density per ViT patch (B, g*g), mean 1; uniform without saliency."""
        if not self.config.projector.saliency_cells:
            return None
        g = self.vision.grid
        if density is None:
            return images.new_ones(images.shape[0], g * g)
        return F.adaptive_avg_pool2d(density, g).flatten(1)  # (B,1,h,w) -> (B, g*g)

    def _loaded(self, images) -> tuple[torch.Tensor, list | None]:
        """-> (_as_tensor(images), the loaded PIL photos, or None when `images` is a tensor already)."""
        if isinstance(images, torch.Tensor):
            return self._as_tensor(images), None
        from ..images import load_image

        photos = [load_image(im) for im in (images if isinstance(images, (list, tuple)) else [images])]
        return self._as_tensor(photos), photos

    def _as_tensor(self, images) -> torch.Tensor:
        if not isinstance(images, torch.Tensor):
            from ..images import to_batch

            images = to_batch(images, self.config.vision.image_size)
        s = self.config.vision.image_size
        if images.ndim != 4 or images.shape[1] != 3 or tuple(images.shape[-2:]) != (s, s):
            raise ValueError(f"images must be (B, 3, {s}, {s}) in [0,1], got {tuple(images.shape)}")
        return images.to(self.device)

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
        """`targets` (B, aux_targets) in [0, 1], NaN where unknown: adds the auxiliary head's loss."""
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
            aux = self.aux_loss(aux_logits, targets)
            loss = aux if loss is None else loss + self.config.aux_weight * aux
        return CaptionerOutput(loss, logits, log_density, aux)

    def _answer_loss(self, embeds, mask, labels) -> tuple[torch.Tensor, torch.Tensor]:
        """Next-token loss over the answers (logits at t predict labels at t+1), the LM run on the
        rows in groups of similar length (`length_groups`), each cut to its longest row: in the
        critic's training batches a quarter of the positions are left padding. -> (logits (B, W, V)
        over the last W positions, those a row's group did not score 0; the loss: the mean over
        all answer tokens, as one pass over the whole batch gives it)."""
        keeps = keeps_logits(self.lm)
        # one pass on a GPU: a step of batch 8 took 0.16 s on an H200, bound by kernel launches, where
        # a second pass costs more than padding (not measured there)
        overhead = GROUP_OVERHEAD if mask.device.type == "cpu" else 10 ** 9
        total, count, scored = 0.0, 0, []
        for rows in length_groups(mask.sum(1).tolist(), overhead):
            rows = torch.tensor(rows, device=mask.device)
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

    def aux_loss(self, logits: torch.Tensor | None, targets: torch.Tensor) -> torch.Tensor:
        """Binary cross-entropy of the auxiliary head's (B, aux_targets) logits; NaN targets are skipped."""
        if logits is None:
            raise ValueError("targets given, but this model has no auxiliary head (config.aux_targets = 0)")
        if targets.shape != logits.shape:
            raise ValueError(f"targets {tuple(targets.shape)}, expected {tuple(logits.shape)}")
        return masked_bce(logits, targets)

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

    # ---- persistence ---------------------------------------------------------------------
    def save_pretrained(self, path, include_backbones: bool = False) -> None:
        from ..checkpoint import save_pretrained

        save_pretrained(self, path, include_backbones=include_backbones)

    @classmethod
    def from_pretrained(cls, path) -> "AestheticCaptioner":
        from ..checkpoint import load_pretrained

        return load_pretrained(path)
