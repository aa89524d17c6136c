"""Import policies trained elsewhere as hrobot bundles.

- `isaaclab`: the ONNX file written by Isaac Lab's rsl_rl exporter (input "obs", output
  "actions") and the run's logged `params/env.yaml`;
- `legged-gym`: a legged_gym / unitree_rl_gym TorchScript policy and its deploy config
  (the YAML unitree_rl_gym's deploy scripts read: kps, kds, default_angles, scales, ...).

Both map the source's joint order onto the robot spec's, take the default pose, gains and
action scale the policy was trained with, and describe the observation with hrobot's
terms, so the bundle then runs through the same runtime and safety layer as native ones.
Anything that cannot be mapped (an unknown observation term, a joint the robot does not
have, per-term history) is refused with one line naming it.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import yaml

from hrobot.bundle import FORMAT_VERSION, load_bundle
from hrobot.export import write_metadata
from hrobot.obs import TERM_REQUIRES
from hrobot.errors import HRobotError
from hrobot.robots import load_robot
from hrobot.spec import RobotSpec

# Articulation joint orders of the public training setups (they are not written in their logs).
KNOWN_JOINT_ORDERS = {
    # Isaac Lab's Go2 asset: breadth-first over the kinematic tree.
    ("isaaclab", "go2"): [f"{leg}_{part}_joint" for part in ("hip", "thigh", "calf") for leg in ("FL", "FR", "RL", "RR")],
    # legged_gym / unitree_rl_gym Go2 (URDF order).
    ("legged-gym", "go2"): [f"{leg}_{part}_joint" for leg in ("FL", "FR", "RL", "RR") for part in ("hip", "thigh", "calf")],
}
ISAACLAB_TERMS = {
    "base_lin_vel": "base_lin_vel", "base_ang_vel": "base_ang_vel", "projected_gravity": "projected_gravity",
    "generated_commands": "command", "joint_pos_rel": "joint_pos", "joint_vel_rel": "joint_vel",
    "last_action": "last_action",
}


class _IsaacLabLoader(yaml.SafeLoader):
    """Isaac Lab's env.yaml uses python tags; read tuples as lists and ignore the rest (no code runs)."""


_IsaacLabLoader.add_constructor("tag:yaml.org,2002:python/tuple", lambda ld, node: ld.construct_sequence(node))
_IsaacLabLoader.add_multi_constructor("tag:yaml.org,2002:python/", lambda ld, suffix, node: None)


def _load_yaml(path: Path, loader=yaml.SafeLoader) -> dict:
    from hrobot.files import read_yaml

    data = read_yaml(path, loader)
    if not isinstance(data, dict):
        raise HRobotError(f"{path}: expected a mapping at the top level")
    return data


def _get(d: dict, dotted: str, src: Path):
    cur = d
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            raise HRobotError(f"{src}: missing field '{dotted}'")
        cur = cur[part]
    return cur


def _joint_order(tool: str, robot: RobotSpec, given: list[str] | None, n: int, src: Path) -> list[str]:
    order = given or KNOWN_JOINT_ORDERS.get((tool, robot.name))
    if order is None:
        raise HRobotError(f"{src}: the joint order of this {tool} policy is unknown for robot {robot.name}; "
                          f"pass --joint-order with the {n} joint names in the policy's order")
    unknown = [j for j in order if j not in robot.joint_names]
    if unknown:
        raise HRobotError(f"{src}: joint order names joints robot {robot.name} does not have: {unknown}")
    if len(order) != n or sorted(order) != sorted(robot.joint_names):
        raise HRobotError(f"{src}: the policy acts on {n} joints, the robot has {robot.num_joints}; "
                          f"joint order must list each robot joint once")
    return list(order)


def _regex_values(mapping, joints: list[str], field: str, src: Path) -> list[float]:
    """Isaac Lab per-joint values: a scalar, or {regex: value} (first full match wins)."""
    if isinstance(mapping, (int, float)):
        return [float(mapping)] * len(joints)
    if not isinstance(mapping, dict):
        raise HRobotError(f"{src}: field '{field}': expected a number or a {{regex: value}} mapping")
    out = []
    for j in joints:
        for pattern, value in mapping.items():
            if re.fullmatch(pattern, j):
                out.append(float(value))
                break
        else:
            raise HRobotError(f"{src}: field '{field}': no entry matches joint '{j}'")
    return out


def _meta(robot: RobotSpec, name: str, order: list[str], default, kp, kd, scale, terms, command, source,
          action_clip: float | None, gait_period_s: float | None = None) -> dict:
    obs_dim = sum(t["size"] for t in terms)
    terms = [{**t, "requires": list(TERM_REQUIRES[t["name"]])} for t in terms]
    return {
        "format_version": FORMAT_VERSION, "level": "low", "name": name, "task": None, "robot": robot.to_dict(),
        "joint_names": order, "default_joint_pos": [float(x) for x in default], "kp": [float(x) for x in kp],
        "kd": [float(x) for x in kd], "action_scale": scale, "action_clip": action_clip,
        "gait_period_s": gait_period_s, "observation": terms, "obs_dim": obs_dim,
        "action_dim": len(order), "history_length": 1, "command": command, "policy_rate_hz": robot.policy_rate_hz,
        "pd_rate_hz": robot.pd_rate_hz, "input_name": "obs", "output_name": "actions", "source": source,
        "normalizer": "in the graph",
    }


def _check_rates(src: Path, robot: RobotSpec, pd_hz: float, policy_hz: float) -> None:
    if not np.isclose(policy_hz, robot.policy_rate_hz):
        raise HRobotError(f"{src}: policy rate {policy_hz:g} Hz does not match robot {robot.name}'s "
                          f"{robot.policy_rate_hz:g} Hz")
    if not np.isclose(pd_hz, robot.pd_rate_hz):
        raise HRobotError(f"{src}: PD rate {pd_hz:g} Hz does not match robot {robot.name}'s {robot.pd_rate_hz:g} Hz")


def import_isaaclab(policy: Path, env_yaml: Path, robot_name: str, out: Path,
                    joint_order: list[str] | None = None) -> Path:
    robot = load_robot(robot_name)
    env = _load_yaml(env_yaml, _IsaacLabLoader)
    dt, decimation = float(_get(env, "sim.dt", env_yaml)), int(_get(env, "decimation", env_yaml))
    _check_rates(env_yaml, robot, 1.0 / dt, 1.0 / (dt * decimation))
    n = robot.num_joints
    order = _joint_order("isaaclab", robot, joint_order, n, env_yaml)
    default = _regex_values(_get(env, "scene.robot.init_state.joint_pos", env_yaml), order, "init_state.joint_pos",
                            env_yaml)
    kp, kd = [0.0] * n, [0.0] * n
    for group, act in _get(env, "scene.robot.actuators", env_yaml).items():
        exprs = act.get("joint_names_expr") or []
        for i, j in enumerate(order):
            if any(re.fullmatch(e, j) for e in exprs):
                kp[i] = _regex_values(act.get("stiffness"), [j], f"actuators.{group}.stiffness", env_yaml)[0]
                kd[i] = _regex_values(act.get("damping"), [j], f"actuators.{group}.damping", env_yaml)[0]
    action = _get(env, "actions.joint_pos", env_yaml)
    if not action.get("use_default_offset", False):
        raise HRobotError(f"{env_yaml}: actions.joint_pos.use_default_offset is false; only offsets around the "
                          "default pose are supported")
    scale = action.get("scale", 1.0)
    scale = _regex_values(scale, order, "actions.joint_pos.scale", env_yaml) if isinstance(scale, dict) else float(scale)
    terms = []
    policy_group = _get(env, "observations.policy", env_yaml)
    if policy_group.get("history_length"):
        raise HRobotError(f"{env_yaml}: observations.policy.history_length > 0 is not supported")
    for key, term in policy_group.items():
        if not isinstance(term, dict) or "func" not in term:
            continue
        func = str(term["func"]).split(":")[-1]
        if func not in ISAACLAB_TERMS:
            raise HRobotError(f"{env_yaml}: observation term '{key}' ({func}) has no hrobot equivalent")
        if term.get("history_length"):
            raise HRobotError(f"{env_yaml}: observation term '{key}': per-term history is not supported")
        name = ISAACLAB_TERMS[func]
        size = {"base_lin_vel": 3, "base_ang_vel": 3, "projected_gravity": 3, "command": 3}.get(name, n)
        sc = term.get("scale")
        clip = term.get("clip")
        terms.append({"name": name, "size": size, "scale": 1.0 if sc is None else sc, "noise": 0.0,
                      "clip": None if clip is None else float(max(abs(c) for c in clip))})
    ranges = ((env.get("commands") or {}).get("base_velocity") or {}).get("ranges") or {}
    command = {"names": ["vx", "vy", "wz"],
               "low": [ranges.get(k, [-1, 1])[0] for k in ("lin_vel_x", "lin_vel_y", "ang_vel_z")],
               "high": [ranges.get(k, [-1, 1])[1] for k in ("lin_vel_x", "lin_vel_y", "ang_vel_z")]}
    out.mkdir(parents=True, exist_ok=True)
    _self_contained_copy(policy, out / "policy.onnx")
    clip = action.get("clip")  # Isaac Lab: None, or {joint regex: [low, high]}
    if isinstance(clip, dict):
        clip = max(abs(float(b)) for pair in clip.values() for b in pair)
    meta = _meta(robot, out.name, order, default, kp, kd, scale, terms, command,
                 {"tool": "isaaclab", "policy": str(policy), "env_yaml": str(env_yaml)}, action_clip=clip)
    _finish(out, meta, policy)
    return out


def import_legged_gym(policy: Path, config: Path, robot_name: str, out: Path,
                      joint_order: list[str] | None = None) -> Path:
    import torch

    robot = load_robot(robot_name)
    cfg = _load_yaml(config)
    n = int(_get(cfg, "num_actions", config))
    sim_dt, decimation = float(_get(cfg, "simulation_dt", config)), int(_get(cfg, "control_decimation", config))
    if not np.isclose(sim_dt * decimation, robot.policy_dt):
        raise HRobotError(f"{config}: control period {sim_dt * decimation:g} s does not match robot {robot.name}'s "
                          f"{robot.policy_dt:g} s")
    order = _joint_order("legged-gym", robot, joint_order, n, config)
    default = [float(x) for x in _get(cfg, "default_angles", config)]
    kp, kd = [float(x) for x in _get(cfg, "kps", config)], [float(x) for x in _get(cfg, "kds", config)]
    for field, values in (("default_angles", default), ("kps", kp), ("kds", kd)):
        if len(values) != n:
            raise HRobotError(f"{config}: field '{field}': expected {n} values, got {len(values)}")
    num_obs = int(_get(cfg, "num_obs", config))
    cmd_scale = [float(x) for x in _get(cfg, "cmd_scale", config)]
    base = [{"name": "base_ang_vel", "size": 3, "scale": float(_get(cfg, "ang_vel_scale", config))},
            {"name": "projected_gravity", "size": 3, "scale": 1.0},
            {"name": "command", "size": 3, "scale": cmd_scale},
            {"name": "joint_pos", "size": n, "scale": float(_get(cfg, "dof_pos_scale", config))},
            {"name": "joint_vel", "size": n, "scale": float(_get(cfg, "dof_vel_scale", config))},
            {"name": "last_action", "size": n, "scale": 1.0}]
    layouts = {9 + 3 * n: base, 12 + 3 * n: [{"name": "base_lin_vel", "size": 3,
                                              "scale": float(cfg.get("lin_vel_scale", 2.0))}] + base,
               11 + 3 * n: base + [{"name": "gait_phase", "size": 2, "scale": 1.0}]}
    if num_obs not in layouts:
        raise HRobotError(f"{config}: num_obs {num_obs} is not a known legged_gym layout for {n} joints "
                          f"(expected one of {sorted(layouts)})")
    terms = [{**t, "noise": 0.0, "clip": None} for t in layouts[num_obs]]
    if not policy.is_file():
        raise HRobotError(f"{policy}: file not found")
    try:
        module = torch.jit.load(str(policy), map_location="cpu").eval()
    except Exception as e:
        raise HRobotError(f"{policy}: not a TorchScript policy: {str(e).splitlines()[0][:120]}") from None
    out.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(module, (torch.zeros(1, num_obs),), str(out / "policy.onnx"), input_names=["obs"],
                      output_names=["actions"], dynamic_axes={"obs": {0: "batch"}, "actions": {0: "batch"}},
                      opset_version=17, dynamo=False)
    command = {"names": ["vx", "vy", "wz"], "low": [-1.0, -1.0, -1.0], "high": [1.0, 1.0, 1.0]}
    # unitree_rl_gym clips actions at normalization.clip_actions (100) and runs its gait clock at 0.8 s
    clip = cfg.get("clip_actions", 100.0)
    period = float(cfg.get("gait_period", 0.8)) if num_obs == 11 + 3 * n else None
    meta = _meta(robot, out.name, order, default, kp, kd, float(_get(cfg, "action_scale", config)), terms, command,
                 {"tool": "legged-gym", "policy": str(policy), "config": str(config)},
                 action_clip=None if clip is None else float(clip), gait_period_s=period)
    _finish(out, meta, policy)
    return out


def _self_contained_copy(src: Path, dst: Path) -> None:
    """Copy an ONNX model into one file (exporters may keep the weights in a side file, policy.onnx.data)."""
    import onnx

    if not src.is_file():
        raise HRobotError(f"{src}: file not found")
    try:
        model = onnx.load(str(src))  # also reads external data stored next to it
    except Exception as e:
        raise HRobotError(f"{src}: not a readable ONNX model: {str(e).splitlines()[0][:120]}") from None
    onnx.save_model(model, str(dst), save_as_external_data=False)


def _finish(out: Path, meta: dict, policy: Path) -> None:
    import json

    write_metadata(out / "policy.onnx", meta)
    (out / "card.json").write_text(json.dumps({"name": out.name, "robot": meta["robot"]["name"],
                                               "imported_from": meta["source"], "level": "low"}, indent=2) + "\n")
    load_bundle(out)  # the result must pass the same validation as a native bundle
