"""Data-parallel training under torchrun (issue: scale out): two CPU processes with Gloo."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as torch_dist
import torch.multiprocessing as mp

from hrobot import distributed as dist
from hrobot.cli import main
from hrobot.train import train

pytestmark = pytest.mark.slow


def _torchrun(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    hrobot = [sys.executable, "-m", "hrobot.cli"]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "--no-python",
           *hrobot, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})


def _tail_mean(run: Path, key: str, n: int = 8) -> float:
    rows = [json.loads(line) for line in (run / "progress.jsonl").read_text().splitlines()]
    return sum(r[key] for r in rows[-n:]) / n


def test_two_processes_train_like_one_with_the_same_env_count_and_rank_0_alone_writes(short_run, tmp_path):
    """go2_walk on 2 x 128 envs under torchrun (Gloo): the weights are compared across the ranks after every update
    (the run stops if they differ), rank 0 alone writes, and the tracking the run reached matches a single process
    on 256 envs within the spread that changing the single process's seed gives."""
    base, base_summary, _ = short_run  # one process, 256 envs, 16 iterations, seed 3
    other = tmp_path / "single_seed4"
    train("go2_walk", other, num_envs=256, iterations=16, seed=4)
    run = tmp_path / "two"
    p = _torchrun("train", "go2_walk", "--distributed", "--num-envs", "256", "--iterations", "16", "--seed", "3",
                  "--out", str(run))
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    assert "on 2 processes (gloo)" in p.stdout and p.stdout.count("trained 16 iterations") == 1  # rank 0 reports
    info = json.loads((run / "run.json").read_text())
    assert info["world_size"] == 2 and info["distributed_backend"] == "gloo" and info["num_envs"] == 256
    assert info["env_steps"] == base_summary["env_steps"] == 16 * 24 * 256
    assert len(list(run.glob("events.out.tfevents.*"))) == 1
    assert len((run / "progress.jsonl").read_text().splitlines()) == 16
    assert json.loads((run / "env_cfg.json").read_text())["num_envs"] == 256
    for key in ("lin_vel_error", "yaw_rate_error"):
        single, seed_changed, two = _tail_mean(base, key), _tail_mean(other, key), _tail_mean(run, key)
        assert abs(two - single) <= max(3 * abs(seed_changed - single), 0.03), (key, single, seed_changed, two)

    # --resume on the same world size continues; on another it is refused in one line
    p = _torchrun("train", "go2_walk", "--distributed", "--num-envs", "256", "--iterations", "1", "--seed", "3",
                  "--out", str(run), "--resume")
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    assert json.loads((run / "run.json").read_text())["iterations"] == 17
    assert main(["train", "go2_walk", "--num-envs", "256", "--iterations", "1", "--out", str(run), "--resume"]) == 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _diverge(rank: int, port: int, results) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE="2",
                      LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE="2")
    ctx = dist.init("cpu")
    torch.manual_seed(rank)
    net = torch.nn.Linear(4, 4)
    for t in net.state_dict().values():
        torch_dist.broadcast(t, src=0)
    dist.check_in_sync([net], ctx)  # same weights: passes
    if rank == 1:
        with torch.no_grad():
            net.weight[0, 0] += 1e-6
    try:
        dist.check_in_sync([net], ctx)
        results[rank] = "not caught"
    except Exception as e:  # noqa: BLE001 - the test reports what was raised
        results[rank] = str(e)
    dist.close(ctx)


def test_diverged_weights_stop_the_run_on_every_rank():
    results = mp.Manager().dict()
    mp.spawn(_diverge, args=(_free_port(), results), nprocs=2, join=True)
    assert all("weights diverged" in results[r] for r in (0, 1)), dict(results)


def test_distributed_refusals_are_one_line(tmp_path, capsys, monkeypatch):
    for var in ("WORLD_SIZE", "RANK"):
        monkeypatch.delenv(var, raising=False)
    assert main(["train", "go2_walk", "--distributed", "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "start the training under torchrun" in err[0]
    monkeypatch.setenv("WORLD_SIZE", "3")
    monkeypatch.setenv("RANK", "0")
    ctx = dist.Context(world_size=3, backend="gloo")
    with pytest.raises(Exception, match="expected a multiple of the world size 3"):
        dist.share(256, ctx)
    if not torch.cuda.is_available():
        assert main(["train", "go2_walk", "--device", "cuda", "--out", str(tmp_path / "b")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "needs --backend warp" in err[0]
