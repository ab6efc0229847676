"""Worker of test_fsdp_resume.py: the training loop's steps and checkpoints under real FSDP sharding
on the CPU (gloo), one process per rank:

    python -m torch.distributed.run --standalone --nproc_per_node 2 tests/training/fsdp_resume.py RUN.json

accelerate refuses FSDP without a GPU (FullyShardedDataParallelPlugin: "There are currently no
available devices found"), so this wraps the model as accelerate's FSDP1 prepare does with
configs/accelerate-fsdp.yaml -- FULL_SHARD, use_orig_params, one unit per block the model's
_no_split_modules names, the optimiser built before wrapping, the state gathered as a full state
dict on rank 0 -- and drives the loop's own pieces: build, optimiser, schedule, batch order,
batches, `checkpoints.save` / `load` / `latest`. It runs to the settings' max_steps (or stops
after session_steps), resuming from the run folder's last checkpoint, and writes the trainable
weights at the end to final.safetensors.
"""

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist


def wrap(model):
    """FSDP1 as accelerate's prepare builds it, on the CPU: device_id cpu, and no
    sync_module_states (which needs a GPU; every rank built the same seeded weights instead)."""
    import functools

    from accelerate.utils.dataclasses import get_module_class_from_name
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
    from torch.distributed.fsdp import ShardingStrategy
    from torch.distributed.fsdp.wrap import transformer_auto_wrap_policy

    blocks = {get_module_class_from_name(model, name) for name in model._no_split_modules}
    policy = functools.partial(transformer_auto_wrap_policy, transformer_layer_cls=blocks)
    return FSDP(model, auto_wrap_policy=policy, sharding_strategy=ShardingStrategy.FULL_SHARD, use_orig_params=True,
                device_id=torch.device("cpu"), sync_module_states=False)


def gather(wrapped) -> dict:
    """The full state dict on rank 0 ({} elsewhere), as accelerate's get_state_dict under FSDP1;
    without its offload_to_cpu, which the tensors need not (they are on the CPU) and which crashes
    a CPU-only gloo group (SIGSEGV)."""
    from torch.distributed.fsdp import FullStateDictConfig, StateDictType
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

    with FSDP.state_dict_type(wrapped, StateDictType.FULL_STATE_DICT,
                              FullStateDictConfig(offload_to_cpu=False, rank0_only=True)):
        return wrapped.state_dict()


def main(config: str) -> None:
    from asemllm.data.records import read_jsonl
    from asemllm.stages import set_stage, train_mode
    from asemllm.training import checkpoints
    from asemllm.training.loop import _trim_log, build, optimizer, schedule
    from asemllm.training.samples import samples_from
    from asemllm.training.settings import TrainSettings

    dist.init_process_group("gloo")
    torch.set_num_threads(1)
    rank, world = dist.get_rank(), dist.get_world_size()
    settings = TrainSettings.load(config)
    out = Path(settings.out)
    model = build(settings)
    set_stage(model, settings.stage)
    opt = optimizer([p for p in model.parameters() if p.requires_grad], settings)
    sched = schedule(opt, settings)
    state = {"step": 0, "epoch": 0, "batch": 0}
    last = checkpoints.latest(out / "checkpoints")
    if last is not None:
        state = checkpoints.load(last, model, opt, sched, rank)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        _trim_log(out / "log.jsonl", state["step"])
    wrapped = wrap(model)
    samples = samples_from(read_jsonl(settings.data.train))
    train_mode(model)
    run(settings, wrapped, model, opt, sched, samples, state, rank, world)
    full = gather(wrapped)
    if rank == 0 and state["step"] >= settings.max_steps:
        from safetensors.torch import save_file

        save_file(checkpoints.trainable_state(model, full), str(out / "final.safetensors"))
    dist.barrier()  # no rank tears the group down while another still uses it (gloo aborts at exit)
    dist.destroy_process_group()


def run(settings, wrapped, model, opt, sched, samples, state, rank: int, world: int) -> None:
    """The loop's steps (loop._loop without accelerate): each rank its slice of the global batch."""
    from asemllm.training import checkpoints
    from asemllm.training.samples import batch_order, load_batch

    out, b = Path(settings.out), settings.batch_size
    stop = settings.max_steps
    if settings.session_steps:
        stop = min(stop, state["step"] + settings.session_steps)
    while state["step"] < stop:
        order = batch_order(len(samples), b * world, state["epoch"], settings.seed)
        for bi in range(state["batch"], len(order)):
            images, prompts, answers = load_batch([samples[i] for i in order[bi][rank * b:(rank + 1) * b]],
                                                  model.config)
            loss = wrapped(images, prompts, answers).loss
            loss.backward()
            wrapped.clip_grad_norm_(settings.max_grad_norm)
            opt.step()
            opt.zero_grad()
            sched.step()
            state.update(step=state["step"] + 1, batch=bi + 1)
            mean = loss.detach().clone()
            dist.all_reduce(mean)
            if rank == 0:
                with open(out / "log.jsonl", "a") as f:
                    f.write(json.dumps({"step": state["step"], "loss": mean.item() / world}) + "\n")
            if state["step"] % settings.save_every == 0 or state["step"] == stop:
                checkpoints.save(out / "checkpoints" / f"step-{state['step']}", model, gather(wrapped), opt, sched,
                                 dict(state), rank, rank == 0, dist.barrier)
            if state["step"] >= stop:
                return
        state.update(epoch=state["epoch"] + 1, batch=0)


if __name__ == "__main__":
    main(sys.argv[1])
