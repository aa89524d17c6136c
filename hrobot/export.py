"""`hrobot export` (train layer): a training run -> a policy bundle (see hrobot.bundle for the contract).

The bundle is written from the run's own saved configuration; loading lives with deployment
(hrobot.bundle), export with training.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import torch

from hrobot.bundle import FORMAT_VERSION, META_KEY
from hrobot.errors import HRobotError
from hrobot.nav_io import HIGH_LEVEL_ACTION_CLIP


def _export_onnx(actor, path: Path) -> dict:
    """Export the actor (deterministic, normaliser included) with rsl_rl's own ONNX module.

    Returns the graph's input and output names and, for recurrent actors, the state metadata.
    """
    module = actor.as_onnx(verbose=False).eval()
    inputs, outputs = module.input_names, module.output_names  # obs[, h_in[, c_in]] -> actions[, h_out[, c_out]]
    axes = {inputs[0]: {0: "batch"}, outputs[0]: {0: "batch"}, **{n: {1: "batch"} for n in inputs[1:] + outputs[1:]}}
    with warnings.catch_warnings():  # the tracer's RNN notes; the state is an input, so any batch size works
        warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message="Exporting a model to ONNX with a batch_size other than 1")
        torch.onnx.export(module, module.get_dummy_inputs(), str(path), input_names=inputs, output_names=outputs,
                          dynamic_axes=axes, opset_version=17, dynamo=False)
    names = {"input_name": inputs[0], "output_name": outputs[0]}
    if not getattr(actor, "is_recurrent", False):
        return names
    return {**names, "recurrent": {"type": module.rnn_type, "num_layers": module.num_layers,
                                   "hidden_size": module.hidden_size, "state_inputs": inputs[1:],
                                   "state_outputs": outputs[1:]}}


def write_metadata(onnx_path: Path, meta: dict) -> None:
    import onnx

    model = onnx.load(str(onnx_path))
    for key, value in ((META_KEY, json.dumps(meta, sort_keys=True)), ("hrobot_format_version", str(FORMAT_VERSION)),
                       ("joint_names", ",".join(meta["joint_names"])), ("robot", meta["robot"]["name"])):
        entry = next((p for p in model.metadata_props if p.key == key), None) or model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(onnx_path))


def export_run(run_dir: Path, out: Path, eval_json: Path | None = None) -> Path:
    """Export a training run (low-level skill or high-level policy) as a bundle folder.

    Every value of the contract comes from the run's own saved configuration (env_cfg.json), never
    from the task's config of today.
    """
    from hrobot.tasks import load_task
    from hrobot.train import load_actor, run_info, saved_env_cfg

    run_dir, out = Path(run_dir), Path(out)
    if (run_dir / "learner_cfg.json").is_file():  # learned offline (hrobot.tasks.offline)
        return export_offline(run_dir, out)
    info = run_info(run_dir)
    mod = load_task(info["task"])
    if mod.KIND == "carry":
        raise HRobotError(f"{run_dir}: carry high levels are not exportable yet (their bundle needs the wrist "
                          f"wrench contract and the ROS WrenchStamped inputs, not built yet); evaluate the run")
    cfg = saved_env_cfg(run_dir)
    cfg.num_envs = 1
    env = mod.make_env(cfg, seed=0, eval_mode=True)
    actor = load_actor(run_dir, env)
    out.mkdir(parents=True, exist_ok=True)
    obs_dim = int(env.get_observations()["policy"].shape[1])
    graph = _export_onnx(actor, out / "policy.onnx")

    robot = env.robot
    meta = _base_meta(out.name, info["task"], robot, obs_dim, graph,
                      "in the graph" if train_cfg_normalized(run_dir) else "none (observations are pre-scaled)",
                      {"tool": "hrobot", "run": str(run_dir), "checkpoint": info["checkpoint"]})
    if mod.KIND == "locomotion":
        c = cfg.commands
        uses_clock = any(t.name == "gait_phase" for t in cfg.policy_obs)
        if any(t.name == "height_scan" for t in cfg.policy_obs):  # where the runtime samples the elevation map
            meta["height_scan"] = {"grid": [int(cfg.height_scan[0]), int(cfg.height_scan[1]), float(cfg.height_scan[2])],
                                   "offset_m": float(cfg.base_height_target), "frame": "base, yaw only; x-major"}
        meta.update({
            "level": "low",
            "action_dim": robot.num_joints,
            "action_clip": cfg.action_clip,
            "gait_period_s": cfg.gait_period_s if uses_clock else None,
            "observation": env.policy_layout.to_list(),
            "command": {"names": ["vx", "vy", "wz"], "low": [c.lin_vel_x[0], c.lin_vel_y[0], c.ang_vel_z[0]],
                        "high": [c.lin_vel_x[1], c.lin_vel_y[1], c.ang_vel_z[1]]},
        })
    elif mod.KIND == "manipulation":
        hi = float(cfg.speeds[1])
        meta.update({
            "level": "low",
            "action_dim": robot.num_joints,
            "action_clip": cfg.action_clip,
            "gait_period_s": None,
            "observation": env.policy_layout.to_list(),
            "action_mode": cfg.action_mode,
            **({"delta_scale": cfg.delta_scale} if cfg.action_mode == "delta" else {}),
            "command": {"names": ["wx", "wy", "wz"], "frame": "palm", "low": [-hi] * 3, "high": [hi] * 3,
                        "axes": [list(a) for a in cfg.axes], "speeds": list(cfg.speeds)},
            "training_pd_rate_hz": cfg.pd_rate_hz or robot.pd_rate_hz,  # sim2sim runs the spec's 500 Hz
        })
    else:  # a high level over skills copied into the bundle
        if getattr(cfg, "flat", False):
            raise HRobotError(f"{run_dir}: a flat baseline is evaluated beside its high level, not exported")
        _copy_skills(env, out)
        meta.update({
            "level": "high",
            "action_dim": env.num_actions,
            "action_clip": HIGH_LEVEL_ACTION_CLIP,
            "gait_period_s": None,
            "skills": [{"name": s.name, "path": f"skills/{_skill_dir(s)}"} for s in env.skills],
            **(_reorientation_meta(cfg, env, obs_dim) if mod.KIND == "reorientation" else
               _navigation_meta(cfg, obs_dim)),
        })
    write_metadata(out / "policy.onnx", meta)
    card = {
        "name": out.name, "task": info["task"], "level": meta["level"], "robot": robot.name,
        "training": _training_record(info),
        "evaluation": json.loads(Path(eval_json).read_text()) if eval_json else None,
        "files": {"policy.onnx": "ONNX policy with hrobot metadata"},
    }
    (out / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    return out


def _base_meta(name: str, task: str, robot, obs_dim: int, graph: dict, normalizer: str, source: dict) -> dict:
    """The contract's entries every bundle has: the robot, its joints, gains and rates, the graph's I/O."""
    return {
        "format_version": FORMAT_VERSION,
        "name": name,
        "task": task,
        "robot": robot.to_dict(),
        "joint_names": robot.joint_names,
        "default_joint_pos": robot.default_pose.tolist(),
        "kp": robot.kp.tolist(),
        "kd": robot.kd.tolist(),
        "action_scale": robot.action_scale,
        "obs_dim": obs_dim,
        "history_length": 1,
        "policy_rate_hz": robot.policy_rate_hz,
        "pd_rate_hz": robot.pd_rate_hz,
        **graph,  # input_name, output_name and, for recurrent policies, recurrent
        "normalizer": normalizer,
        "source": source,
    }


def export_offline(run_dir: Path, out: Path, checkpoint: str | None = None) -> Path:
    """An offline navigation high level (hrobot.tasks.offline) as a high-level bundle of its online task: the
    goal planner and `hrobot eval` run it as they run a PPO-trained one. Its graph maps the observation to the
    learner's normalised command, then to the raw action the runtime's decode_action squashes back."""
    from hrobot.bundle import load_bundle
    from hrobot.tasks import load_task
    from hrobot.tasks.offline.goals import NavGoals, raw_action
    from hrobot.tasks.offline.runner import load_policy

    run_dir, out = Path(run_dir), Path(out)
    mod, info, goals, policy = load_policy(run_dir, checkpoint)
    info = {**info, "checkpoint": checkpoint or info["checkpoint"]}
    if not isinstance(goals, NavGoals):
        raise HRobotError(f"{run_dir}: only navigation high levels learned offline export as bundles (task "
                          f"{info['task']} is evaluated in its own environment: hrobot eval {run_dir})")
    nav_cfg = load_task(mod.NAV_TASK).env_cfg()

    class Raw(torch.nn.Module):
        def __init__(self, policy):
            super().__init__()
            self.policy = policy

        def forward(self, obs):
            return raw_action(self.policy(obs))

    out.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(Raw(policy).eval(), torch.zeros(1, goals.obs_dim), str(out / "policy.onnx"),
                          input_names=["obs"], output_names=["actions"],
                          dynamic_axes={"obs": {0: "batch"}, "actions": {0: "batch"}}, opset_version=17, dynamo=False)
    skills = [load_bundle(p) for p in nav_cfg.skills]
    robot = skills[0].robot
    for s in skills:
        dst = out / "skills" / s.path.name
        if dst.exists():
            shutil.rmtree(dst)
        shutil.copytree(s.path, dst, ignore=shutil.ignore_patterns("skills"))
    meta = _base_meta(out.name, mod.NAV_TASK, robot, goals.obs_dim, {"input_name": "obs", "output_name": "actions"},
                      "none (observations are pre-scaled)",
                      {"tool": "hrobot", "run": str(run_dir), "checkpoint": info["checkpoint"],
                       "learned": f"offline ({info['algorithm']}) from {info['dataset']}"})
    meta.update({"level": "high", "action_dim": 3, "action_clip": HIGH_LEVEL_ACTION_CLIP, "gait_period_s": None,
                 "skills": [{"name": s.meta["name"], "path": f"skills/{s.path.name}"} for s in skills],
                 **_navigation_meta(nav_cfg, goals.obs_dim)})
    write_metadata(out / "policy.onnx", meta)
    card = {"name": out.name, "task": mod.NAV_TASK, "level": "high", "robot": robot.name,
            "training": {k: info.get(k) for k in ("task", "algorithm", "commands", "iterations", "seed", "wall_time_s",
                                                  "dataset", "dataset_steps", "dataset_trajectories", "dataset_hours",
                                                  "final")},
            "evaluation": None, "files": {"policy.onnx": "ONNX policy with hrobot metadata"}}
    (out / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    return out


def _reorientation_meta(cfg, env, obs_dim: int) -> dict:
    return {
        "observation": [{"name": "reorientation", "size": obs_dim, "scale": 1.0, "noise": 0.0, "clip": None,
                         "requires": ["object_quat", "goal_quat"]}],
        "command": {"names": ["goal_qw", "goal_qx", "goal_qy", "goal_qz"], "frame": "palm",
                    "low": [-1.0] * 4, "high": [1.0] * 4},
        "high_level": {
            "kind": "reorientation", "rate_hz": cfg.hl_rate_hz, "episode_s": cfg.episode_s,
            "success_angle": cfg.success_angle, "hold_s": cfg.hold_s,
            "axes": env.axes.tolist(), "speeds": list(env.skill.speeds),
            "action": "one preference per axis (the largest wins), then (wx, wy, wz) squashed between the "
                      "slowest and the fastest trained speed about that axis (hrobot.reorient_io.axis_options)",
        },
    }


def _navigation_meta(cfg, obs_dim: int) -> dict:
    return {
        "observation": [{"name": "navigation", "size": obs_dim, "scale": 1.0, "noise": 0.0, "clip": None,
                         "requires": ["base_xy", "base_yaw", "base_lin_vel", "base_ang_vel", "ray_scan"]}],
        "command": {"names": ["goal_x", "goal_y", "goal_yaw"], "frame": "world (odometry)",
                    "low": [-cfg.arena_half_size, -cfg.arena_half_size, -np.pi],
                    "high": [cfg.arena_half_size, cfg.arena_half_size, np.pi]},
        "high_level": {
            "rate_hz": cfg.hl_rate_hz, "episode_s": cfg.episode_s, **cfg.scan.to_dict(),
            "success_distance": cfg.success_distance, "success_yaw": cfg.success_yaw,
            "skill_prior": list(cfg.skill_prior),
            "action": "one preference per skill (largest, after adding skill_prior, wins, if several), then "
                      "the command, tanh-squashed into the chosen skill's range",
        },
    }


def _training_record(info: dict) -> dict:
    """The card's training section; a warm-started run also records the run it started from (recursively)."""
    rec = {k: info.get(k) for k in ("commands", "iterations", "env_steps", "seed", "wall_time_s", "hardware",
                                    "num_envs", "backend", "git_commit", "init_from", "skills", "torch")}
    if info.get("init_from"):  # "<run>/<model_N.pt>: actor ..." or "<bundle>/policy.onnx: actor ..." (train --init-from)
        src = Path(info["init_from"].split(": ")[0]).parent
        if (src / "run.json").is_file():
            rec["warm_start"] = _training_record(json.loads((src / "run.json").read_text()))
        elif (src / "card.json").is_file():  # a shipped bundle: its card holds how it was trained
            rec["warm_start"] = json.loads((src / "card.json").read_text()).get("training")
        if rec.get("warm_start"):
            rec["total"] = {k: rec[k] + rec["warm_start"].get("total", rec["warm_start"])[k]
                            for k in ("iterations", "env_steps", "wall_time_s")}
    return rec


def train_cfg_normalized(run_dir: Path) -> bool:
    cfg = json.loads((Path(run_dir) / "train_cfg.json").read_text())
    return bool(cfg["actor"].get("obs_normalization"))


def _skill_dir(skill) -> str:
    return Path(skill.source).name


def _copy_skills(env, out: Path) -> None:
    """A high-level bundle is self-contained: its skills' bundles are copied under skills/."""
    for s in env.skills:
        src = Path(s.source)
        if not (src / "policy.onnx").is_file():
            raise HRobotError(f"skill {s.name} comes from {src}, not from a bundle: export the skill first "
                              f"(hrobot export {src} --out policies/<name>) and train the high level on it")
        dst = out / "skills" / src.name
        if dst.exists():
            shutil.rmtree(dst)
        shutil.copytree(src, dst, ignore=shutil.ignore_patterns("skills"))
