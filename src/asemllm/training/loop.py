"""The training loop: accelerate for processes, devices, mixed precision and accumulation.

Data order is a pure function of (seed, epoch): each global batch is cut into one slice per
process, so N processes with batch b see exactly what one process with batch N*b sees, and a
resumed run continues from the batch after its last checkpoint.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import torch

from ..stages import train_mode
from . import checkpoints
from .samples import batch_order, batch_targets, load_batch, samples_from
from .settings import TrainSettings


def build(settings: TrainSettings):
    from ..config import ModelConfig
    from ..models import build_model, load_model

    torch.manual_seed(settings.seed)  # new modules start identical on every process
    if settings.init_from:
        return load_model(settings.init_from)
    return build_model(ModelConfig.from_dict(settings.model))


def optimizer(params, settings: TrainSettings):
    if settings.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=settings.lr, weight_decay=settings.weight_decay)
    if settings.optimizer == "sgd":
        return torch.optim.SGD(params, lr=settings.lr, momentum=0.9, weight_decay=settings.weight_decay)
    raise ValueError(f"unknown optimizer {settings.optimizer!r}; use 'adamw' or 'sgd'")


def schedule(opt, settings: TrainSettings):
    """Linear warm-up, then cosine decay to 10% over max_steps."""
    def factor(step: int) -> float:
        if step < settings.warmup_steps:
            return (step + 1) / settings.warmup_steps
        t = (step - settings.warmup_steps) / max(1, settings.max_steps - settings.warmup_steps)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))
    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


def train(settings: TrainSettings, log=print) -> dict:
    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs

    from ..data.records import read_jsonl
    from ..models import save_model
    from ..stages import format_table, set_stage

    out = Path(settings.out)
    model = build(settings)
    rows = set_stage(model, settings.stage)
    # with saliency off the fusion blocks get no gradient; DDP must be told
    ddp = DistributedDataParallelKwargs(find_unused_parameters=model.config.saliency == "none")
    acc = Accelerator(gradient_accumulation_steps=settings.grad_accum, kwargs_handlers=[ddp],
                      mixed_precision=settings.mixed_precision, cpu=not torch.cuda.is_available())
    samples = samples_from(read_jsonl(settings.data.train), settings.data.image_root, settings.data.aspects)
    global_batch = settings.batch_size * acc.num_processes
    if len(samples) < global_batch:
        raise ValueError(f"{settings.data.train}: {len(samples)} samples, fewer than one batch of {global_batch}")
    params = [p for p in model.parameters() if p.requires_grad]
    opt = optimizer(params, settings)
    sched = schedule(opt, settings)
    state = {"step": 0, "epoch": 0, "batch": 0}
    last = checkpoints.latest(out / "checkpoints")
    if last is not None:
        state = checkpoints.load(last, model, opt, sched, acc.process_index)
    if acc.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        log(format_table(rows))
        log(f"resumed from {last} at step {state['step']}" if last else f"{len(samples)} samples, "
            f"{acc.num_processes} process(es), global batch {global_batch} x {settings.grad_accum} accumulation")
        _trim_log(out / "log.jsonl", state["step"])
    wrapped, opt = acc.prepare(model, opt)
    _loop(settings, acc, wrapped, model, opt, sched, samples, state, out, log)
    if state["step"] >= settings.max_steps:
        full = acc.get_state_dict(wrapped)  # every process takes part (FSDP gathers shards)
        if acc.is_main_process:
            save_model(model, out / "model", state=full)
    acc.wait_for_everyone()
    return state


def _loop(settings, acc, wrapped, model, opt, sched, samples, state, out, log) -> None:
    from tqdm import tqdm

    b, rank = settings.batch_size, acc.process_index
    bar = tqdm(total=settings.max_steps, initial=state["step"], disable=not acc.is_main_process, desc="train")
    t0, seen, losses, aux = time.time(), 0, [], []
    runlog = RunLog(out) if acc.is_main_process else None
    stop = min(settings.max_steps, state["step"] + settings.session_steps) if settings.session_steps else settings.max_steps
    train_mode(model)
    while state["step"] < settings.max_steps:
        order = batch_order(len(samples), b * acc.num_processes, state["epoch"], settings.seed)
        for bi in range(state["batch"], len(order)):
            mine = [samples[i] for i in order[bi][rank * b:(rank + 1) * b]]
            images, p, a = load_batch(mine, model.config)
            targets = batch_targets(mine, model.config.aux_targets)
            result = step(acc, wrapped, opt, images, p, a, targets, settings.max_grad_norm)
            losses.append(result.loss.detach())
            if result.aux_loss is not None:
                aux.append(result.aux_loss.detach())
            seen += len(mine) * acc.num_processes
            if not acc.sync_gradients:
                continue
            sched.step()
            state.update(step=state["step"] + 1, batch=bi + 1)
            bar.update(1)
            _report(settings, acc, state, sched, losses, aux, seen / (time.time() - t0), runlog, bar)
            losses, aux = [], []
            if state["step"] % settings.save_every == 0 or state["step"] == stop:
                full = acc.get_state_dict(wrapped)  # every process takes part (FSDP gathers shards)
                checkpoints.save(out / "checkpoints" / f"step-{state['step']}", model, full, opt, sched,
                                 dict(state), rank, acc.is_main_process, acc.wait_for_everyone)
            if state["step"] >= stop:
                return
        state.update(epoch=state["epoch"] + 1, batch=0)


def step(acc, wrapped, opt, images, prompts, answers, targets, max_grad_norm: float):
    """One forward/backward and (when accumulation is complete) optimiser update; `asemllm bench
    train` times exactly this. -> the model's CaptionerOutput."""
    with acc.accumulate(wrapped):
        result = wrapped(images.to(acc.device), prompts, answers,
                         targets=None if targets is None else targets.to(acc.device))
        acc.backward(result.loss)
        if acc.sync_gradients:
            acc.clip_grad_norm_(wrapped.parameters(), max_grad_norm)
        opt.step()
        opt.zero_grad()
    return result


class RunLog:
    """`log.jsonl` always; TensorBoard event files too when the tensorboard package is installed."""

    def __init__(self, out: Path):
        self.path = out / "log.jsonl"
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(out / "tensorboard"))
        except ImportError:
            self.tb = None

    def write(self, line: dict) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps(line) + "\n")
        if self.tb is not None:
            for k in ("loss", "aux_loss", "lr", "samples_per_s"):
                if k in line:
                    self.tb.add_scalar(f"train/{k}", line[k], line["step"])


def _report(settings, acc, state, sched, losses, aux, rate, runlog, bar) -> None:
    """`loss` is the total; `aux_loss` (models with an auxiliary head) is its auxiliary part."""
    def mean(xs):
        return acc.reduce(torch.stack(xs).mean().to(acc.device), reduction="mean").item()

    line = {"step": state["step"], "epoch": state["epoch"], "loss": mean(losses)}
    if aux:
        line["aux_loss"] = mean(aux)
    bar.set_postfix(loss=f"{line['loss']:.4f}", samples_s=f"{rate:.1f}")
    if runlog is not None and (state["step"] % settings.log_every == 0 or state["step"] == 1):
        runlog.write({**line, "lr": sched.get_last_lr()[0], "samples_per_s": round(rate, 2)})


def _trim_log(path: Path, step: int) -> None:
    """A run killed after its last checkpoint logged steps that the resumed run will redo."""
    if not path.is_file():
        return
    keep = [line for line in path.read_text().splitlines() if line and json.loads(line)["step"] <= step]
    path.write_text("".join(line + "\n" for line in keep))
