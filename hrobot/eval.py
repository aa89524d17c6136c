"""`hrobot eval` and `hrobot play` for locomotion skills.

Evaluation protocol (one number per claim, side by side on the same seeds):
- one episode per environment, `episode_s` long (20 s), nominal model parameters, no
  observation noise or latency, random pushes on (the task's push interval and speed);
- each episode holds one command from a sweep over the task's command ranges;
- errors are averaged over the time the robot is alive, after a 1 s start;
- `turn_in_place`: the same on commands with zero linear velocity and four yaw rates over
  the range; `yaw_rate_ratio` is the mean achieved / commanded yaw rate;
- an episode that terminates (fall, base contact) before its end counts as a fall.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path

import numpy as np
import torch

from hrobot.errors import HRobotError
from hrobot.robots import load_robot
from hrobot.spec import RobotSpec
from hrobot.sim.terrain import TERRAIN_TYPES
from hrobot.tasks import load_task
from hrobot.tasks.velocity.env import for_robot
from hrobot.train import load_actor, run_info, saved_env_cfg

WARMUP_S = 1.0


def command_sweep(cfg, n: int) -> torch.Tensor:
    """n commands cycling through a grid over the command ranges (5 x 3 x 3 = 45 cells)."""
    c = cfg.commands
    grid = list(itertools.product(np.linspace(*c.lin_vel_x, 5), np.linspace(*c.lin_vel_y, 3), np.linspace(*c.ang_vel_z, 3)))
    return torch.tensor([grid[i % len(grid)] for i in range(n)], dtype=torch.float32)


def turn_sweep(cfg, n: int) -> torch.Tensor:
    """n turn-in-place commands (zero linear velocity), cycling through 4 yaw rates over the range."""
    lo, hi = cfg.commands.ang_vel_z
    rates = [lo, lo / 2, hi / 2, hi]
    return torch.tensor([[0.0, 0.0, rates[i % 4]] for i in range(n)], dtype=torch.float32)


def _episodes(env, actor, commands: torch.Tensor, levels: torch.Tensor | None = None) -> dict:
    """Run one episode per env with fixed commands; per-episode errors, achieved velocities and falls."""
    n = env.num_envs
    alive = torch.ones(n, dtype=torch.bool)
    fell = torch.zeros(n, dtype=torch.bool)
    warm = int(round(WARMUP_S / env.dt))
    lin_err, yaw_err, count = torch.zeros(n), torch.zeros(n), torch.zeros(n)
    vel, height, air = torch.zeros(n, 3), torch.zeros(n), torch.zeros(n, env.nfeet)
    with torch.inference_mode():  # the reset too: an env may be run through several sweeps
        if levels is not None:
            env.terrain_levels[:] = levels.to(env.device)
        env.hold_commands(commands)
        env.reset_all()
        obs = env.get_observations()
        for t in range(env.max_episode_length):
            obs, _, dones, extras = env.step(actor(obs))
            if t >= warm:
                m = alive.float()
                lin_err += m * (env.commands[:, :2] - env.base_lin_vel[:, :2]).norm(dim=1).cpu()
                yaw_err += m * (env.commands[:, 2] - env.base_ang_vel[:, 2]).abs().cpu()
                vel += m[:, None] * torch.cat([env.base_lin_vel[:, :2], env.base_ang_vel[:, 2:3]], 1).cpu()
                height += m * (env.base_pos[:, 2] - env.terrain_h).cpu()  # above the ground below it
                air += m[:, None] * (~env.foot_contact).float().cpu()
                count += m
            ended = dones.cpu() & alive
            fell |= ended & ~extras["time_outs"].cpu()
            alive &= ~dones.cpu()
    count = count.clamp(min=1)
    return {"lin_err": lin_err / count, "yaw_err": yaw_err / count, "vel": vel / count[:, None], "fell": fell,
            "height": height / count, "air": air / count[:, None]}


def _payload_episodes(env, actor, commands: torch.Tensor, kg: float, task: str) -> dict:
    """The sweep with `kg` more on the payload bodies (split evenly), the model's constants re-derived; restored."""
    from hrobot.tasks.mdp.events import add_payload

    if not env.payload_ids:
        raise HRobotError(f"--payload: task {task} names no payload bodies (randomization.payload_bodies)")
    if kg < 0:
        raise HRobotError(f"--payload: expected a mass >= 0 kg, got {kg:g}")
    every = torch.arange(env.num_envs, device=env.device)
    add_payload(env, every, torch.full((env.num_envs, len(env.payload_ids)), kg / len(env.payload_ids)))
    env.sim.set_constants(every)
    try:
        return _episodes(env, actor, commands)
    finally:
        add_payload(env, every, torch.zeros(env.num_envs, len(env.payload_ids)))
        env.sim.set_constants(every)


def _summary(r: dict) -> dict:
    return {
        "lin_vel_error": float(r["lin_err"].mean()),
        "yaw_rate_error": float(r["yaw_err"].mean()),
        "fall_rate": float(r["fell"].float().mean()),
        "base_height_m": float(r["height"].mean()),
        "feet_air_share": [round(float(a), 4) for a in r["air"].mean(dim=0)],  # per foot (the spec's order)
        "episodes": int(len(r["fell"])),
    }


def policy_source(path: Path, checkpoint: str | None = None):
    """A training run or an exported bundle -> (info with task, skills and checkpoint, actor factory).

    The factory builds a batched actor (observations -> actions) for an environment; a bundle's
    actor is its ONNX graph in onnxruntime, so a shipped policy is evaluated exactly as exported.
    """
    from hrobot.bundle import load_bundle

    path = Path(path)
    if (path / "policy.onnx").is_file():
        b = load_bundle(path)
        if b.meta["history_length"] != 1:
            raise HRobotError(f"{path}: evaluating bundles with observation history is not supported; use the run")
        info = {"task": b.meta["task"], "checkpoint": "policy.onnx", "env_steps": None, "bundle_robot": b.robot,
                "command": b.meta["command"],
                "skills": [str(path / s["path"]) for s in b.meta.get("skills", [])],
                "skill_prior": b.meta.get("high_level", {}).get("skill_prior")}

        def bundle_actor(env):
            state = b.initial_state(env.num_envs)  # recurrent: carried across steps (one episode per env)

            def act(obs):
                nonlocal state
                action, state = b.step(obs["policy"].cpu().numpy(), state)
                return torch.from_numpy(action).to(env.device)

            return act

        return info, bundle_actor
    info = run_info(path)
    return info, lambda env: load_actor(path, env, checkpoint=checkpoint)


def eval_cfg(path: Path, info: dict, terrain: str):
    """The locomotion config to evaluate a run or bundle on: (config, robot spec or None).

    A run is evaluated on its own saved config and robot spec; a bundle on its task's config, moved
    to the bundle's own robot where that is not the task's.
    """
    if "bundle_robot" not in info:  # a training run
        return dataclasses.replace(saved_env_cfg(path), terrain=terrain), None
    cfg = load_task(info["task"]).env_cfg(terrain)
    robot: RobotSpec = info["bundle_robot"]
    if robot.name != load_robot(cfg.robot).name:
        cfg = for_robot(cfg, robot, info["task"])[0]
    c = info["command"]
    cfg.commands = dataclasses.replace(cfg.commands, **{k: (float(lo), float(hi)) for k, lo, hi in zip(
        ("lin_vel_x", "lin_vel_y", "ang_vel_z"), c["low"], c["high"])})
    return cfg, robot


def evaluate(run_dir: Path, episodes: int = 100, rough_levels: int = 5, seed: int = 123,
             plot: Path | None = None, backend: str = "mujoco", checkpoint: str | None = None,
             payload_kg: float = 0.0) -> dict:
    """Flat-ground sweep (`episodes` episodes), per-level results for tasks with rough terrain and, with
    `payload_kg`, the flat sweep again with that payload split evenly over the task's payload bodies."""
    info, make_actor = policy_source(run_dir, checkpoint)
    mod = load_task(info["task"])
    results: dict = {"task": info["task"], "run": str(run_dir), "checkpoint": checkpoint or info.get("checkpoint"),
                     "protocol": __doc__.split("Evaluation protocol")[1].strip()}
    cfg, robot = eval_cfg(run_dir, info, "flat")
    results["robot"] = (robot.name if robot else load_robot(cfg.robot).name)
    cfg.num_envs = episodes
    env = mod.make_env(cfg, backend=backend, seed=seed, eval_mode=True, robot=robot)
    actor = make_actor(env)
    commands = command_sweep(cfg, episodes)
    flat = _episodes(env, actor, commands)
    results.update(_summary(flat))
    if payload_kg:
        results["payload"] = {"kg": payload_kg, "bodies": list(cfg.randomization.payload_bodies),
                              **_summary(_payload_episodes(env, actor, commands, payload_kg, info["task"]))}
    turns = turn_sweep(cfg, episodes)
    turning = _episodes(env, actor, turns)
    results["turn_in_place"] = {**_summary(turning),
                                "yaw_rate_ratio": float((turning["vel"][:, 2] / turns[:, 2]).mean())}
    results["commands"] = {"lin_vel_x": list(cfg.commands.lin_vel_x), "lin_vel_y": list(cfg.commands.lin_vel_y),
                           "ang_vel_z": list(cfg.commands.ang_vel_z)}
    if rough_levels:
        rcfg, _ = eval_cfg(run_dir, info, "rough")
        per = max(episodes // rough_levels, 4)
        rcfg.num_envs = per * rough_levels
        renv = mod.make_env(rcfg, backend=backend, seed=seed, eval_mode=True, robot=robot)
        ractor = make_actor(renv)
        top = rcfg.terrain_cfg.num_levels - 1
        level_ids = np.linspace(0, top, rough_levels).round().astype(int)
        levels = torch.tensor(np.repeat(level_ids, per))
        rough = _episodes(renv, ractor, command_sweep(rcfg, rcfg.num_envs), levels)
        results["rough_levels"] = []
        cols = renv.terrain_cols.cpu()  # each env's terrain type (its tile's column)
        for lvl in level_ids:
            sel = levels == int(lvl)
            part = {k: v[sel] for k, v in rough.items()}
            by_type = {name: float(rough["fell"][sel & (cols == c)].float().mean())
                       for c, name in enumerate(TERRAIN_TYPES[: rcfg.terrain_cfg.num_types]) if (sel & (cols == c)).any()}
            results["rough_levels"].append({"level": int(lvl), "difficulty": round(float(lvl) / top, 3), **_summary(part),
                                            "fall_rate_by_type": by_type})
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
    from hrobot.sim.model import build_sim_model

    info, make_actor = policy_source(run_dir)
    mod = load_task(info["task"])
    if mod.KIND == "manipulation":
        return _play_inhand(run_dir, info, make_actor, video, seconds, width, height)
    if mod.KIND != "locomotion":
        raise HRobotError(f"{run_dir}: play renders locomotion and in-hand rotation runs; {info['task']} is a "
                          f"{mod.KIND} task (its demo renders it: hrobot demo --robot ...)")
    cfg, robot = eval_cfg(run_dir, info, terrain)
    cfg.num_envs = 1
    cfg.randomization.push_velocity = 0.0
    env = mod.make_env(cfg, seed=0, eval_mode=True, robot=robot)
    actor = make_actor(env)
    script = [(0.0, (0.8, 0.0, 0.0)), (0.3, (0.5, 0.0, 0.8)), (0.55, (0.0, 0.4, 0.0)), (0.8, (0.0, 0.0, 0.0))]
    steps = int(seconds / env.dt)

    def hold(t: int) -> None:
        env.hold_commands(torch.tensor([[c for start, c in script if t / steps >= start][-1]]))

    vis = build_sim_model(env.robot, dataclasses.replace(env.scene, visual=True))
    return _render_rollout(env, actor, vis, video, steps, hold, width, height)


def _render_rollout(env, actor, vis, video: Path, steps: int, hold, width: int, height: int) -> dict:
    """Run one env for `steps` policy steps (`hold(t)` sets its command) and render each to an MP4; falls (or
    drops) are the episodes that ended before their time."""
    import mujoco

    from hrobot.sim.render import Renderer, save_video

    data = mujoco.MjData(vis.model)
    renderer = Renderer(vis, width, height)
    frames, obs, falls = [], env.get_observations(), 0
    with torch.inference_mode():
        for t in range(steps):
            hold(t)
            obs, _, dones, extras = env.step(actor(obs))
            falls += int(dones[0] & ~extras["time_outs"][0])
            data.qpos[:] = env.sim.qpos[0].cpu().numpy()
            mujoco.mj_forward(vis.model, data)
            frames.append(renderer.render(data))
    renderer.close()
    save_video(video, frames, fps=1.0 / env.dt)
    return {"video": str(video), "frames": len(frames), "seconds": steps * env.dt, "falls": falls}


def _play_inhand(run_dir: Path, info: dict, make_actor, video: Path, seconds: float, width: int, height: int) -> dict:
    """The rotation skill held on each of its axes in turn (equal shares of the video) at its mid speed."""
    from hrobot.sim.model import build_sim_model
    from hrobot.sim.scene import SceneConfig

    if "bundle_robot" in info:
        raise HRobotError(f"{run_dir}: playing in-hand bundles is not supported yet; play the run")
    cfg = saved_env_cfg(run_dir)
    cfg.num_envs = 1
    env = load_task(info["task"]).make_env(cfg, seed=0, eval_mode=True)
    actor = make_actor(env)
    steps, speed = int(seconds / env.dt), sum(cfg.speeds) / 2

    def hold(t: int) -> None:
        env.hold_commands(torch.tensor([t * len(cfg.axes) // steps]), torch.tensor([speed]))

    vis = build_sim_model(env.robot, SceneConfig(kind="hand_object", visual=True))
    return _render_rollout(env, actor, vis, video, steps, hold, width, height)


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")


# ---------------------------------------------------------------- navigation

NAV_PROTOCOL = ("one episode per environment on held-out layouts (seeded; the same layouts for every "
                "controller), nominal model parameters, no observation noise; success = within 0.25 m and "
                "0.3 rad of the goal pose inside 20 s without a fall or a collision; mean_time_to_goal over "
                "successful episodes; 'blocked' layouts have an obstacle or the bar on the straight line "
                "from start to goal")


def _blocked(env) -> torch.Tensor:
    """Layouts where a present obstacle (or the bar) lies across the straight line from start to goal."""
    centres, halves = env.boxes()
    k = env.cfg.num_obstacles + 1  # obstacles and the bar, not the walls
    c, h = centres[:, :k], halves[:, :k]
    present = c[:, :, 2] > -5.0
    a, b = env.start[:, None, :2], env.goal[:, None, :2]
    ab = b - a
    t = (((c[:, :, :2] - a) * ab).sum(-1) / (ab * ab).sum(-1).clamp(min=1e-9)).clamp(0, 1)
    closest = a + t[..., None] * ab
    inside = ((closest - c[:, :, :2]).abs() < h[:, :, :2] + 0.25).all(-1)
    return (inside & present).any(dim=1)


def _nav_run(env, controller, keep: int) -> dict:
    """One episode per env; returns outcomes and the first `keep` trajectories."""
    from hrobot.tasks.navigation.env import pure_pursuit

    n = env.num_envs
    keep = min(keep, n)
    done = torch.zeros(n, dtype=torch.bool)
    out = {k: torch.zeros(n, dtype=torch.bool) for k in ("success", "collided", "fell")}
    time_s = torch.full((n,), float("nan"))
    end_distance, end_yaw_error = torch.full((n,), float("nan")), torch.full((n,), float("nan"))
    blocked = _blocked(env).cpu()
    layout = {"start": env.start.cpu().clone(), "goal": env.goal.cpu().clone(),
              "boxes": [t.cpu().clone() for t in env.boxes()], "has_bar": env.has_bar.cpu().clone()}
    paths = [[env.ll.base_pos[i, :2].cpu().tolist()] for i in range(keep)]
    skill_use = torch.zeros(n, max(env.num_skills, 1))
    skill_at_bar = torch.zeros_like(skill_use)  # steps that start within 0.3 m of the bar, per skill
    bar_x = env.ll.mocap_pos[:, env.bar_mocap, 0].cpu().clone()
    obs = env.get_observations()
    with torch.inference_mode():
        for _ in range(env.max_episode_length):
            near = layout["has_bar"] & ~done & ((env.ll.base_pos[:, 0].cpu() - bar_x).abs() < 0.3)
            if controller == "pure_pursuit":
                obs, _, dones, _ = env.step_commands(torch.zeros(n, dtype=torch.long), pure_pursuit(env))
            else:
                obs, _, dones, _ = env.step(controller(obs))
            o = {k: v.cpu() for k, v in env.last_outcome.items()}
            new = o["dones"] & ~done
            for k, key in (("success", "success"), ("collided", "collided"), ("fell", "fell")):
                out[k] |= new & o[key]
            time_s[new & o["success"]] = o["time_s"][new & o["success"]]
            end_distance[new], end_yaw_error[new] = o["distance"][new], o["yaw_error"][new]
            alive = ~done & ~o["dones"]
            if env.num_skills > 1:
                skill_use[torch.arange(n), env.skill_index.cpu()] += alive.float()
                skill_at_bar[torch.arange(n), env.skill_index.cpu()] += near.float()
            for i in range(keep):
                if alive[i]:  # an env that just ended was already reset: its position is the next start
                    paths[i].append(env.ll.base_pos[i, :2].cpu().tolist())
            done |= o["dones"]
            if bool(done.all()):
                break
    return {**out, "time_s": time_s, "blocked": blocked, "layout": layout, "paths": paths, "skill_use": skill_use,
            "skill_at_bar": skill_at_bar, "end_distance": end_distance, "end_yaw_error": end_yaw_error,
            "near": 2.0 * env.cfg.success_distance, "success_yaw": env.cfg.success_yaw}


def _nav_summary(r: dict, sel: torch.Tensor | None = None) -> dict:
    """Rates over the selected episodes; a time-out (neither reached, collided nor fell) is split by where it
    ended: near the goal (within twice the success distance), and of those off the goal's heading."""
    sel = torch.ones_like(r["success"]) if sel is None else sel
    s = r["success"][sel]
    times = r["time_s"][sel][s]
    rate = lambda m: float(m.float().mean()) if len(s) else float("nan")  # noqa: E731
    timed_out = ~(r["success"] | r["collided"] | r["fell"])[sel]
    near = timed_out & (r["end_distance"][sel] < r["near"])
    return {
        "success_rate": rate(s),
        "mean_time_to_goal": float(times.mean()) if len(times) else float("nan"),
        "collision_rate": rate(r["collided"][sel]),
        "fall_rate": rate(r["fell"][sel]),
        "time_out_rate": rate(timed_out),
        "time_out_near_goal_rate": rate(near),
        "time_out_near_goal_off_heading_rate": rate(near & (r["end_yaw_error"][sel] >= r["success_yaw"])),
        "episodes": int(sel.sum()),
    }


def evaluate_navigation(run_dir: Path, episodes: int = 200, seed: int = 1000, plot: Path | None = None,
                        flat_run: Path | None = None, keep: int = 6, checkpoint: str | None = None) -> dict:
    """The high level, pure pursuit on the same skill, and (if given) the flat baseline, on the same layouts."""
    from hrobot.tasks.navigation.env import policy_cfg

    info, make_actor = policy_source(run_dir, checkpoint)
    mod = load_task(info["task"])
    cfg = policy_cfg(info, episodes)
    env = mod.make_env(cfg, seed=seed, eval_mode=True)
    actor = make_actor(env)
    results: dict = {"task": info["task"], "run": str(run_dir), "protocol": NAV_PROTOCOL, "skills": list(cfg.skills)}
    runs = {"high_level": _nav_run(env, actor, keep)}
    env_pp = mod.make_env(cfg, seed=seed, eval_mode=True, skills=env.skills[:1])
    runs["pure_pursuit"] = _nav_run(env_pp, "pure_pursuit", keep)
    if flat_run is not None:
        finfo, make_flat = policy_source(flat_run)
        fmod = load_task(finfo["task"])
        fcfg = fmod.env_cfg()
        fcfg.num_envs = episodes
        fenv = fmod.make_env(fcfg, seed=seed, eval_mode=True)
        runs["flat"] = _nav_run(fenv, make_flat(fenv), keep)
        results["flat_run"] = str(flat_run)
        results["flat_env_steps"] = finfo["env_steps"]
    blocked = runs["high_level"]["blocked"]
    for name, r in runs.items():
        results[name] = {**_nav_summary(r), "blocked_layouts": _nav_summary(r, blocked),
                         "open_layouts": _nav_summary(r, ~blocked)}
    results.update({k: results["high_level"][k] for k in
                    ("success_rate", "mean_time_to_goal", "collision_rate", "fall_rate", "episodes")})
    if env.num_skills > 1:
        use = runs["high_level"]["skill_use"]
        bar = runs["high_level"]["layout"]["has_bar"]
        share = use / use.sum(dim=1, keepdim=True).clamp(min=1)
        at_bar = runs["high_level"]["skill_at_bar"].sum(dim=0)
        results["skill_share"] = {s.name: {"bar_layouts": float(share[bar, i].mean()) if bar.any() else None,
                                           "other_layouts": float(share[~bar, i].mean()) if (~bar).any() else None,
                                           "at_bar": float(at_bar[i] / at_bar.sum()) if at_bar.sum() else None}
                                  for i, s in enumerate(env.skills)}
        results["bar_layouts"] = _nav_summary(runs["high_level"], bar)
    if plot is not None:
        _plot_navigation(runs, plot, info["task"], cfg.arena_half_size)
        results["plot"] = str(plot)
    return results


def _plot_navigation(runs: dict, path: Path, title: str, half: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    hl = runs["high_level"]
    keep = len(hl["paths"])
    cols = 3
    rows = (keep + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 4.2 * rows), squeeze=False)
    colours = {"high_level": "tab:blue", "pure_pursuit": "tab:orange", "flat": "tab:green"}
    for i in range(rows * cols):
        ax = axes[i // cols][i % cols]
        ax.set_xlim(-half, half)
        ax.set_ylim(-half, half)
        ax.set_aspect("equal")
        if i >= keep:
            ax.axis("off")
            continue
        lay = hl["layout"]
        centres, halves = lay["boxes"]
        bar = len(centres[i]) - 5  # boxes: obstacles, the bar, then the four walls (the frame)
        for j, (c, h) in enumerate(zip(centres[i][: bar + 1], halves[i][: bar + 1])):
            if c[2] > -5.0 and j < bar:
                ax.add_patch(Rectangle((c[0] - h[0], c[1] - h[1]), 2 * h[0], 2 * h[1], color="tab:brown", alpha=0.6))
            elif c[2] > -5.0:
                ax.axvline(float(c[0]), color="gold", lw=4, alpha=0.8, label="low bar")
        s, g = lay["start"][i], lay["goal"][i]
        ax.plot(s[0], s[1], "k^", ms=8)
        ax.plot(g[0], g[1], "r*", ms=14)
        ax.arrow(float(g[0]), float(g[1]), 0.4 * float(torch.cos(g[2])), 0.4 * float(torch.sin(g[2])), color="r",
                 head_width=0.1)
        for name, r in runs.items():
            p = torch.tensor(r["paths"][i])
            ok = "ok" if r["success"][i] else ("collision" if r["collided"][i] else ("fell" if r["fell"][i] else "timeout"))
            ax.plot(p[:, 0], p[:, 1], color=colours[name], lw=1.8, label=f"{name} ({ok})")
        ax.legend(fontsize=7, loc="lower left")
        ax.set_title(f"layout {i}" + (" (blocked)" if hl["blocked"][i] else ""), fontsize=9)
    fig.suptitle(f"{title}: trajectories on held-out layouts (start ^, goal *)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def evaluate_inhand(run_dir: Path, episodes: int = 100, seed: int = 123, checkpoint: str | None = None) -> dict:
    """In-hand rotation: one episode per env with a held command (the task's axes in turn, speeds swept over its
    range), nominal model, no noise; per axis the achieved rotation rate about the commanded axis (rad turned /
    time the cube stayed in the hand) over the commanded one, and the share of episodes the cube was dropped."""
    info, make_actor = policy_source(run_dir, checkpoint)
    if "bundle_robot" in info:
        raise HRobotError(f"{run_dir}: evaluating in-hand bundles is not supported yet; evaluate the run")
    cfg = saved_env_cfg(run_dir)
    cfg.num_envs = episodes
    env = load_task(info["task"]).make_env(cfg, seed=seed, eval_mode=True)
    actor = make_actor(env)
    axis = torch.arange(episodes) % len(cfg.axes)
    lo, hi = cfg.speeds
    speed = lo + (hi - lo) * (torch.arange(episodes) // len(cfg.axes)).float() / max((episodes - 1) // len(cfg.axes), 1)
    env.reset_all()
    env.hold_commands(axis, speed)
    obs = env.get_observations()
    alive = torch.ones(episodes, dtype=torch.bool)
    turned, alive_s, dropped = torch.zeros(episodes), torch.zeros(episodes), torch.zeros(episodes, dtype=torch.bool)
    with torch.inference_mode():
        for _ in range(env.max_episode_length):
            before = env.rotation_done.clone()
            obs, _, dones, extras = env.step(actor(obs))
            step_turn = torch.where(dones, torch.zeros_like(before), env.rotation_done - before)
            turned += step_turn * alive
            alive_s += env.dt * alive
            dropped |= dones & ~extras["time_outs"] & alive
            alive &= ~dones
            if not alive.any():
                break
    rate = turned / alive_s.clamp(min=env.dt)
    per_axis = []
    for k, a in enumerate(cfg.axes):
        sel = axis == k
        per_axis.append({"axis": list(a), "episodes": int(sel.sum()), "commanded_rad_s": float(speed[sel].mean()),
                         "achieved_rad_s": float(rate[sel].mean()),
                         "achieved_over_commanded": float((rate[sel] / speed[sel]).mean()),
                         "drop_rate": float(dropped[sel].float().mean())})
    return {"task": info["task"], "run": str(run_dir), "checkpoint": checkpoint or info.get("checkpoint"),
            "robot": env.robot.name, "episodes": episodes, "seed": seed, "episode_s": cfg.episode_s,
            "drop_rate": float(dropped.float().mean()), "axes": per_axis,
            "protocol": evaluate_inhand.__doc__.split(":", 1)[1].strip()}


# ---------------------------------------------------------------- reorientation

REORIENT_PROTOCOL = ("one 40 s episode per environment from held-out seeds (the same goals for every controller), "
                     "nominal model, no observation noise; a success is the cube within the success angle of the goal "
                     "for 0.5 s, after which a new uniformly random goal is drawn; consecutive_successes counts them "
                     "until the episode ends (40 s or a drop); first_goal_within_20s is the share of episodes whose "
                     "first goal was reached inside 20 s")


def _reorient_run(env, controller) -> dict:
    n = env.num_envs
    done = torch.zeros(n, dtype=torch.bool)
    successes, dropped = torch.zeros(n), torch.zeros(n, dtype=torch.bool)
    first = torch.full((n,), float("nan"))
    obs = env.get_observations()
    with torch.inference_mode():
        for _ in range(env.max_episode_length):
            if controller == "scripted":
                obs, _, _, _ = env.step_axes(env.scripted_axes())
            else:
                obs, _, _, _ = env.step(controller(obs))
            o = {k: v.cpu() for k, v in env.last_outcome.items()}
            hit = o["succeeded"] & ~done & torch.isnan(first)
            first[hit] = o["time_s"][hit]
            new = o["dones"] & ~done
            successes[new] = o["successes"][new].float()
            dropped |= new & o["dropped"]
            done |= o["dones"]
            if bool(done.all()):
                break
    return {"mean_consecutive_successes": float(successes.mean()),
            "median_consecutive_successes": float(successes.median()),
            "first_goal_within_20s": float((first <= 20.0).float().mean()), "drop_rate": float(dropped.float().mean()),
            "episodes": n}


def evaluate_reorient(run_dir: Path, episodes: int = 100, seed: int = 2000, flat_run: Path | None = None,
                      checkpoint: str | None = None, angles: tuple[float, ...] = (0.4, 0.1)) -> dict:
    """The high level, the scripted planner on the same skill and (if given) the flat baseline, at each success angle."""
    info, make_actor = policy_source(run_dir, checkpoint)
    mod = load_task(info["task"])
    results: dict = {"task": info["task"], "run": str(run_dir), "protocol": REORIENT_PROTOCOL, "seed": seed}
    flat = policy_source(flat_run) if flat_run is not None else None
    for angle in angles:
        cfg = mod.env_cfg()
        cfg.num_envs, cfg.success_angle = episodes, angle
        cfg.skills = tuple(info.get("skills") or cfg.skills)
        env = mod.make_env(cfg, seed=seed, eval_mode=True)
        row = {"high_level": _reorient_run(env, make_actor(env)),
               "scripted": _reorient_run(mod.make_env(cfg, seed=seed, eval_mode=True, skills=env.skills), "scripted")}
        if flat is not None:
            fmod = load_task(flat[0]["task"])
            fcfg = fmod.env_cfg()
            fcfg.num_envs, fcfg.success_angle = episodes, angle
            fenv = fmod.make_env(fcfg, seed=seed, eval_mode=True)
            row["flat"] = _reorient_run(fenv, flat[1](fenv))
            results["flat_run"], results["flat_env_steps"] = str(flat_run), flat[0]["env_steps"]
        results[f"{angle:g}_rad"] = row
    return results


# ---------------------------------------------------------------- carrying with a partner

CARRY_PROTOCOL = ("one episode per environment from held-out seeds (the same partner paths and board masses for "
                  "every controller), nominal model, no observation noise; follower force = the horizontal force at "
                  "the wrists (both hands, N), mean over the episode and its peak; trajectory deviation = the base's "
                  "mean distance to the partner's path (extended 2 m behind its start); velocity synchrony = the "
                  "correlation of the base's and the partner's planar velocities, and the lag (s, 0-2) that "
                  "maximises the correlation of their speeds; completion = after the partner stops, the first time "
                  "the follower force is under 5 N with the partner's arm relaxed (stretch < 0.1 m); an episode "
                  "ends early at a fall or a drop (the partner's arm stretched beyond its reach)")
ADMITTANCE_GRID = ((0.005, 0.01, 0.02), (0.0, 0.05, 0.1))  # force gains (m/s per N), torque gains (rad/s per N m)


def _carry_run(env, controller) -> dict:
    """Run every env's episode once with `controller` ("stand", ("admittance", kf, kt) or an actor)."""
    from hrobot.geometry import quat_rotate, quat_from_yaw, yaw_from_quat
    from hrobot.tasks.carry.env import admittance

    n = env.num_envs
    alive = torch.ones(n, dtype=torch.bool)
    fell, dropped = torch.zeros(n, dtype=torch.bool), torch.zeros(n, dtype=torch.bool)
    rec = {k: [] for k in ("base", "vel", "target", "target_vel", "force", "stretch", "alive", "walking")}
    with torch.inference_mode():  # (every run of an env in it: its buffers become inference tensors)
        env.gen.manual_seed(env.seed)  # the same paths and board masses for every controller
        env.reset_all()
        obs = env.get_observations()
        for k in range(env.max_episode_length):
            if controller == "stand":
                obs, _, dones, _ = env.step_commands(torch.zeros(n, 3))
            elif isinstance(controller, tuple):
                obs, _, dones, _ = env.step_commands(admittance(env, *controller[1:]))
            else:
                obs, _, dones, _ = env.step(controller(obs))
            o = {key: v.cpu() for key, v in env.last_outcome.items()}
            ll = env.ll
            vel = quat_rotate(quat_from_yaw(yaw_from_quat(ll.base_quat)),
                              torch.cat([ll.base_lin_vel[:, :2], torch.zeros(n, 1)], 1))[:, :2]
            # a reset env's state is its next episode's: the step that ended an episode is kept from before it
            ended = o["dones"] & alive
            fell |= ended & o["fell"]
            dropped |= ended & o["dropped"]
            alive &= ~o["dones"]
            rec["alive"].append(alive.clone())
            rec["base"].append(ll.base_pos[:, :2].cpu().clone())
            rec["vel"].append(vel.cpu())
            rec["target"].append(env.target[:, :2].cpu().clone())
            rec["target_vel"].append(env.target_vel[:, :2].cpu().clone())
            rec["force"].append(env.force_xy.cpu().clone())
            rec["stretch"].append(env.stretch.cpu().clone())
            rec["walking"].append(((k + 1) * env.dt < env.walk_s).cpu())
            if not alive.any():
                break
    r = {key: torch.stack(v, 1) for key, v in rec.items()}  # (N, T, ...)
    return _carry_metrics(r, fell, dropped, env.dt)


def _carry_metrics(r: dict, fell: torch.Tensor, dropped: torch.Tensor, dt: float) -> dict:
    n, steps = r["alive"].shape
    force, dev, corr, lag, done_t = [], [], [], [], []
    peak = []
    max_lag = int(round(2.0 / dt))
    for i in range(n):
        a = r["alive"][i]
        t_end = int(a.sum())
        if t_end < 2:
            continue
        f = r["force"][i, :t_end]
        force.append(float(f.mean()))
        peak.append(float(f.max()))
        path = r["target"][i, :t_end]
        start_dir = (path[min(10, t_end - 1)] - path[0])
        start_dir = start_dir / start_dir.norm().clamp(min=1e-6)
        path = torch.cat([path[:1] - 2.0 * start_dir, path], 0)
        seg_a, seg_b = path[:-1], path[1:]
        p = r["base"][i, :t_end]
        ab = seg_b - seg_a
        tt = (((p[:, None] - seg_a[None]) * ab[None]).sum(-1) / (ab * ab).sum(-1).clamp(min=1e-9)[None]).clamp(0, 1)
        closest = seg_a[None] + tt[..., None] * ab[None]
        dev.append(float((p[:, None] - closest).norm(dim=-1).amin(dim=1).mean()))
        v, tv = r["vel"][i, :t_end].reshape(-1), r["target_vel"][i, :t_end].reshape(-1)
        corr.append(float(torch.corrcoef(torch.stack([v, tv]))[0, 1]) if v.std() > 1e-6 and tv.std() > 1e-6 else 0.0)
        s, ts = r["vel"][i, :t_end].norm(dim=1), r["target_vel"][i, :t_end].norm(dim=1)
        best, best_c = 0, -2.0
        for k in range(0, min(max_lag, t_end - 2) + 1):
            x, y = s[k:], ts[:t_end - k]
            c = float(torch.corrcoef(torch.stack([x, y]))[0, 1]) if x.std() > 1e-6 and y.std() > 1e-6 else -2.0
            if c > best_c:
                best, best_c = k, c
        lag.append(best * dt)
        settled = (~r["walking"][i, :t_end]) & (f < 5.0) & (r["stretch"][i, :t_end] < 0.1)
        idx = torch.nonzero(settled).flatten()
        done_t.append(float((idx[0] + 1) * dt) if len(idx) and not (fell[i] or dropped[i]) else float("nan"))
    done = torch.tensor(done_t)
    completed = ~torch.isnan(done)
    mean = lambda xs: float(sum(xs) / len(xs)) if xs else float("nan")  # noqa: E731
    return {"follower_force_mean_n": mean(force), "follower_force_peak_n": mean(peak),
            "trajectory_deviation_m": mean(dev), "velocity_correlation": mean(corr), "velocity_lag_s": mean(lag),
            "completion_rate": float(completed.float().mean()),
            "completion_time_s": float(done[completed].mean()) if completed.any() else float("nan"),
            "fall_rate": float(fell.float().mean()), "drop_rate": float(dropped.float().mean()), "episodes": n}


def tune_admittance(cfg, skills, seed: int, episodes: int = 16, grid=ADMITTANCE_GRID) -> dict:
    """The admittance gains with the lowest mean follower force (falls and drops count as 100 N each) on paths of
    `seed` (a tuning set apart from the evaluation's)."""
    from hrobot.tasks.carry.env import CarryEnv

    tcfg = dataclasses.replace(cfg, num_envs=episodes)
    env = CarryEnv(tcfg, seed=seed, eval_mode=True, skills=skills)
    rows = []
    for kf in grid[0]:
        for kt in grid[1]:
            m = _carry_run(env, ("admittance", kf, kt))
            score = m["follower_force_mean_n"] + 100.0 * (m["fall_rate"] + m["drop_rate"])
            rows.append({"gain_force": kf, "gain_torque": kt, "score": score, **m})
    best = min(rows, key=lambda row: row["score"])
    return {"gain_force": best["gain_force"], "gain_torque": best["gain_torque"], "seed": seed,
            "episodes": episodes, "grid": rows}


def evaluate_carry(run_dir: Path | None, episodes: int = 100, seed: int = 3000, tune_seed: int = 4000,
                   tune_episodes: int = 16, checkpoint: str | None = None, task: str = "g1_carry",
                   episode_s: float | None = None) -> dict:
    """The learned high level (if a run is given), the admittance baseline (gains tuned on other paths) and standing
    still, on the same held-out partner paths (`episode_s`: shorter episodes than the task's, for a quick look)."""
    from hrobot.skills import load_skill

    if run_dir is not None:
        info, make_actor = policy_source(run_dir, checkpoint)
        if "bundle_robot" in info:
            raise HRobotError(f"{run_dir}: evaluating carry bundles is not supported yet; evaluate the run")
        cfg = saved_env_cfg(run_dir)
        task = info["task"]
    else:
        cfg = load_task(task).env_cfg()
    mod = load_task(task)
    cfg.num_envs = episodes
    if episode_s is not None:
        if episode_s <= 0:
            raise HRobotError(f"--episode-s: expected a positive duration, got {episode_s:g}")
        cfg.episode_s = episode_s
    skills = [load_skill(p) for p in cfg.skills]
    tuned = tune_admittance(cfg, skills, tune_seed, tune_episodes)
    env = mod.make_env(cfg, seed=seed, eval_mode=True, skills=skills)
    results: dict = {"task": task, "run": str(run_dir) if run_dir else None, "protocol": CARRY_PROTOCOL,
                     "seed": seed, "skills": list(cfg.skills), "admittance_tuning": tuned}
    if run_dir is not None:
        results["high_level"] = _carry_run(env, make_actor(env))
    results["admittance"] = _carry_run(env, ("admittance", tuned["gain_force"], tuned["gain_torque"]))
    results["stand_still"] = _carry_run(env, "stand")
    return results
