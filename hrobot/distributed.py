"""Data-parallel PPO across processes (train layer): `hrobot train TASK --distributed` under torchrun.

One process per rank, each with its own batched environments (its share of `--num-envs`, its own
seed), the update synchronised as rsl_rl does it: the same initial weights (broadcast from rank 0),
gradients all-reduced every mini-batch, the adaptive learning rate decided on rank 0, normaliser
statistics combined. The backend follows the device: NCCL on GPUs, Gloo on CPUs (rsl_rl's runner
hard-codes NCCL, which exists only on GPUs). Rank 0 alone writes checkpoints, TensorBoard, the
progress log and run.json.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from hrobot.errors import HRobotError


@dataclass(frozen=True)
class Context:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    local_world_size: int = 1
    device: str = "cpu"
    backend: str | None = None  # None: a single process

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.backend is not None


def init(device: str = "cpu") -> Context:
    """Join the torchrun job this process was started in (WORLD_SIZE, RANK, LOCAL_RANK from the environment)."""
    if "WORLD_SIZE" not in os.environ or "RANK" not in os.environ:
        raise HRobotError("--distributed: start the training under torchrun (e.g. torchrun --nproc-per-node 2 "
                          "$(which hrobot) train TASK --distributed); WORLD_SIZE and RANK are not set")
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local = int(os.environ.get("LOCAL_RANK", "0"))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
    if device.startswith("cuda"):
        if not torch.cuda.is_available() or local >= torch.cuda.device_count():
            raise HRobotError(f"--distributed on GPUs: local rank {local} has no GPU "
                              f"({torch.cuda.device_count()} visible)")
        device, backend = f"cuda:{local}", "nccl"
        torch.cuda.set_device(local)
    else:
        backend = "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, rank=rank, world_size=world)
    return Context(rank, local, world, local_world, device, backend)


def share(total: int, ctx: Context, what: str = "--num-envs") -> int:
    """This rank's share of a total that every rank takes equally."""
    if total % ctx.world_size or total < ctx.world_size:
        raise HRobotError(f"{what} {total}: expected a multiple of the world size {ctx.world_size} "
                          f"(each rank steps the same number of environments)")
    return total // ctx.world_size


def mean_metrics(info: dict, ctx: Context) -> dict:
    """Numeric progress metrics averaged over the ranks (`steps_per_s` summed: the job's throughput)."""
    if not ctx.enabled:
        return info
    keys = sorted(k for k, v in info.items() if isinstance(v, (int, float)) and not isinstance(v, bool))
    values = torch.tensor([float(info[k]) for k in keys], dtype=torch.float64, device=ctx.device)
    present = torch.isfinite(values).to(torch.float64)  # a rank with no finished episode yet reports NaN
    values = torch.where(present > 0, values, torch.zeros_like(values))
    dist.all_reduce(values)
    dist.all_reduce(present)
    out = dict(info)
    for k, v, n in zip(keys, values.tolist(), present.tolist()):
        if k == "iteration":
            continue
        out[k] = v if k == "steps_per_s" else (v / n if n else float("nan"))
    return out


def check_in_sync(modules, ctx: Context) -> None:
    """Every rank must hold the same weights after an update: compare a checksum of them across the ranks."""
    if not ctx.enabled:
        return
    with torch.no_grad():
        total = torch.zeros(2, dtype=torch.float64, device=ctx.device)
        for m in modules:
            for p in m.state_dict().values():
                if p.is_floating_point():
                    total[0] += p.double().sum()
                    total[1] += (p.double() ** 2).sum()
        gathered = [torch.zeros_like(total) for _ in range(ctx.world_size)]
        dist.all_gather(gathered, total)
    if any(not torch.equal(g, gathered[0]) for g in gathered[1:]):
        raise HRobotError(f"distributed training: the ranks' weights diverged (checksums "
                          f"{[g.tolist() for g in gathered]})")


def barrier(ctx: Context) -> None:
    if ctx.enabled:
        dist.barrier()


def close(ctx: Context) -> None:
    if ctx.enabled and dist.is_initialized():
        dist.destroy_process_group()
