"""`hrobot eval` and `hrobot play` for locomotion skills.

Evaluation protocol (one number per claim, side by side on the same seeds):
- one episode per environment, `episode_s` long (20 s), nominal model parameters, no
  observation noise or latency, random pushes on (the task's push interval and speed);
- each episode holds one command from a sweep over the task's command ranges;
- errors are averaged over the time the robot is alive, after a 1 s start;
- an episode that terminates (fall, base contact) before its end counts as a fall.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path

import numpy as np
import torch

from hrobot.tasks import load_task
from hrobot.train import load_actor, run_info

WARMUP_S = 1.0


def command_sweep(cfg, n: int) -> torch.Tensor:
    """n commands cycling through a grid over the command ranges (5 x 3 x 3 = 45 cells)."""
    c = cfg.commands
    grid = list(itertools.product(np.linspace(*c.lin_vel_x, 5), np.linspace(*c.lin_vel_y, 3), np.linspace(*c.ang_vel_z, 3)))
    return torch.tensor([grid[i % len(grid)] for i in range(n)], dtype=torch.float32)


def _episodes(env, actor, commands: torch.Tensor, levels: torch.Tensor | None = None) -> dict:
    """Run one episode per env with fixed commands; per-episode errors, achieved velocities and falls."""
    n = env.num_envs
    if levels is not None:
        env.terrain_levels[:] = levels.to(env.device)
    env.hold_commands(commands)
    env.reset_all()
    obs = env.get_observations()
    alive = torch.ones(n, dtype=torch.bool)
    fell = torch.zeros(n, dtype=torch.bool)
    warm = int(round(WARMUP_S / env.dt))
    lin_err, yaw_err, count = torch.zeros(n), torch.zeros(n), torch.zeros(n)
    vel = torch.zeros(n, 3)
    with torch.inference_mode():
        for t in range(env.max_episode_length):
            obs, _, dones, extras = env.step(actor(obs))
            if t >= warm:
                m = alive.float()
                lin_err += m * (env.commands[:, :2] - env.base_lin_vel[:, :2]).norm(dim=1).cpu()
                yaw_err += m * (env.commands[:, 2] - env.base_ang_vel[:, 2]).abs().cpu()
                vel += m[:, None] * torch.cat([env.base_lin_vel[:, :2], env.base_ang_vel[:, 2:3]], 1).cpu()
                count += m
            ended = dones.cpu() & alive
            fell |= ended & ~extras["time_outs"].cpu()
            alive &= ~dones.cpu()
    count = count.clamp(min=1)
    return {"lin_err": lin_err / count, "yaw_err": yaw_err / count, "vel": vel / count[:, None], "fell": fell}


def _summary(r: dict) -> dict:
    return {
        "lin_vel_error": float(r["lin_err"].mean()),
        "yaw_rate_error": float(r["yaw_err"].mean()),
        "fall_rate": float(r["fell"].float().mean()),
        "episodes": int(len(r["fell"])),
    }


def evaluate(run_dir: Path, episodes: int = 100, rough_levels: int = 5, seed: int = 123,
             plot: Path | None = None, backend: str = "mujoco") -> dict:
    """Flat-ground sweep (`episodes` episodes) and, for tasks with rough terrain, per-level results."""
    info = run_info(run_dir)
    mod = load_task(info["task"])
    results: dict = {"task": info["task"], "run": str(run_dir), "checkpoint": info.get("checkpoint"),
                     "protocol": __doc__.split("Evaluation protocol")[1].strip()}
    cfg = mod.env_cfg("flat")
    cfg.num_envs = episodes
    env = mod.make_env(cfg, backend=backend, seed=seed, eval_mode=True)
    actor = load_actor(run_dir, env)
    commands = command_sweep(cfg, episodes)
    flat = _episodes(env, actor, commands)
    results.update(_summary(flat))
    results["commands"] = {"lin_vel_x": list(cfg.commands.lin_vel_x), "lin_vel_y": list(cfg.commands.lin_vel_y),
                           "ang_vel_z": list(cfg.commands.ang_vel_z)}
    if rough_levels:
        rcfg = mod.env_cfg("rough")
        per = max(episodes // rough_levels, 4)
        rcfg.num_envs = per * rough_levels
        renv = mod.make_env(rcfg, backend=backend, seed=seed, eval_mode=True)
        ractor = load_actor(run_dir, renv)
        top = rcfg.terrain_cfg.num_levels - 1
        level_ids = np.linspace(0, top, rough_levels).round().astype(int)
        levels = torch.tensor(np.repeat(level_ids, per))
        rough = _episodes(renv, ractor, command_sweep(rcfg, rcfg.num_envs), levels)
        results["rough_levels"] = []
        for lvl in level_ids:
            sel = levels == int(lvl)
            part = {k: v[sel] for k, v in rough.items()}
            results["rough_levels"].append({"level": int(lvl), "difficulty": round(float(lvl) / top, 3), **_summary(part)})
    if plot is not None:
        _plot(commands, flat, plot, info["task"])
        results["plot"] = str(plot)
    return results


def _plot(commands: torch.Tensor, r: dict, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    names = ("forward vx [m/s]", "lateral vy [m/s]", "yaw rate wz [rad/s]")
    for i, ax in enumerate(axes):
        c, a = commands[:, i].numpy(), r["vel"][:, i].numpy()
        fell = r["fell"].numpy()
        ax.scatter(c[~fell], a[~fell], s=14, label="episode")
        if fell.any():
            ax.scatter(c[fell], a[fell], s=20, marker="x", color="red", label="fell")
        lo, hi = min(c.min(), a.min()) - 0.1, max(c.max(), a.max()) + 0.1
        ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="commanded = achieved")
        ax.set_xlabel(f"commanded {names[i]}")
        ax.set_ylabel("achieved (episode mean)")
        ax.grid(alpha=0.3)
    axes[0].legend(loc="upper left", fontsize=8)
    fig.suptitle(f"{title}: commanded vs achieved velocity (flat ground, pushes on)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def play(run_dir: Path, video: Path, seconds: float = 12.0, terrain: str = "flat", width: int = 640,
         height: int = 480) -> dict:
    """Render the policy following a command script (forward, turn, sideways, stop) to an MP4."""
    import mujoco

    from hrobot.sim.model import build_sim_model
    from hrobot.sim.render import Renderer, save_video

    info = run_info(run_dir)
    mod = load_task(info["task"])
    cfg = mod.env_cfg(terrain)
    cfg.num_envs = 1
    cfg.randomization.push_velocity = 0.0
    env = mod.make_env(cfg, seed=0, eval_mode=True)
    actor = load_actor(run_dir, env)
    vis = build_sim_model(env.robot, dataclasses.replace(env.scene, visual=True))
    data = mujoco.MjData(vis.model)
    renderer = Renderer(vis, width, height)
    script = [(0.0, (0.8, 0.0, 0.0)), (0.3, (0.5, 0.0, 0.8)), (0.55, (0.0, 0.4, 0.0)), (0.8, (0.0, 0.0, 0.0))]
    steps = int(seconds / env.dt)
    frames, obs, falls = [], env.get_observations(), 0
    with torch.inference_mode():
        for t in range(steps):
            cmd = [c for start, c in script if t / steps >= start][-1]
            env.hold_commands(torch.tensor([cmd]))
            obs, _, dones, _ = env.step(actor(obs))
            falls += int(dones[0])
            data.qpos[:] = env.sim.qpos[0].cpu().numpy()
            mujoco.mj_forward(vis.model, data)
            frames.append(renderer.render(data))
    renderer.close()
    save_video(video, frames, fps=1.0 / env.dt)
    return {"video": str(video), "frames": len(frames), "seconds": seconds, "falls": falls}


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
