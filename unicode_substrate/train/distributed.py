"""torchrun integration: read the launcher's environment, start and stop the process group."""

from __future__ import annotations

import os
from dataclasses import dataclass

from unicode_substrate.errors import SubstrateError

# What torchrun sets for every process; all or none of them must be present.
TORCHRUN_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job (a single process is rank 0 of 1)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def dist_info_from_env(env: dict | None = None) -> DistInfo:
    """Parse torchrun's variables; refuse a half-set environment instead of hanging on a rendezvous."""
    env = os.environ if env is None else env
    present = [k for k in TORCHRUN_ENV if env.get(k)]
    if not present:
        return DistInfo()
    missing = [k for k in TORCHRUN_ENV if not env.get(k)]
    if missing:
        raise SubstrateError(
            f"the torchrun environment is half set: {', '.join(present)} given but {', '.join(missing)} missing; "
            "launch with torchrun or unset them"
        )
    try:
        rank, world, local = int(env["RANK"]), int(env["WORLD_SIZE"]), int(env["LOCAL_RANK"])
        int(env["MASTER_PORT"])
    except ValueError:
        raise SubstrateError("RANK, WORLD_SIZE, LOCAL_RANK and MASTER_PORT must be integers") from None
    if not (world >= 1 and 0 <= rank < world and 0 <= local):
        raise SubstrateError(f"inconsistent torchrun environment: RANK {rank}, WORLD_SIZE {world}, LOCAL_RANK {local}")
    return DistInfo(rank, world, local)


def init_distributed(info: DistInfo, device_type: str) -> None:
    """Join the process group (NCCL on CUDA, gloo on CPU) when there is more than one process."""
    if not info.enabled:
        return
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")


def shutdown_distributed() -> None:
    """Leave the process group if one was joined."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
