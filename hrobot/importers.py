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


def _isaac_joint_order(exprs, preserve: bool, articulation: list[str] | None, robot: RobotSpec, field: str,
                       src: Path) -> list[str]:
    """Isaac Lab's `resolve_matching_names`: with preserve_order, joints in the order of the expressions (each
    expression's matches in articulation order); without, the matched joints in articulation order."""
    exprs = [exprs] if isinstance(exprs, str) else list(exprs or [".*"])
    universe = articulation or robot.joint_names
    matches = []
    for e in exprs:
        found = [j for j in universe if re.fullmatch(e, j)]
        if not found:
            raise HRobotError(f"{src}: field '{field}': expression '{e}' matches no joint of robot {robot.name}")
        if articulation is None and (len(found) > 1 or not preserve):
            raise HRobotError(f"{src}: field '{field}': the order of the joints '{e}' matches is the articulation's, "
                              f"which is unknown for robot {robot.name}; pass --joint-order with the "
                              f"{robot.num_joints} joint names in Isaac Lab's articulation order")
        matches.append(found)
    if preserve:
        order = [j for found in matches for j in found]
    else:
        order = [j for j in universe if any(j in found for found in matches)]
    if len(set(order)) != len(order):
        raise HRobotError(f"{src}: field '{field}': a joint is matched by more than one expression")
    return order


def _isaac_articulation(robot: RobotSpec, given: list[str] | None, src: Path) -> list[str] | None:
    order = given or KNOWN_JOINT_ORDERS.get(("isaaclab", robot.name))
    if order is not None and sorted(order) != sorted(robot.joint_names):
        raise HRobotError(f"{src}: joint order must list each of robot {robot.name}'s {robot.num_joints} joints once "
                          f"(got {len(order)} names)")
    return list(order) if order is not None else None


def _per_joint(value, joints: list[str], field: str, src: Path) -> list[float | None]:
    """Isaac Lab's per-joint scalars ({regex: value} or one value); None where the dump has none."""
    if value is None:
        return [None] * len(joints)
    return _regex_values(value, joints, field, src)


def import_isaaclab(policy: Path, env_yaml: Path, robot_name: str, out: Path,
                    joint_order: list[str] | None = None) -> Path:
    """An Isaac Lab rsl_rl ONNX export and its params/env.yaml as a bundle.

    Joint orders follow Isaac Lab's rules (`preserve_order`); where the observation's joint terms use
    another order than the actions, a Gather in front of the graph reorders them, so the bundle keeps
    one joint order. Observation clips are applied before scaling in Isaac Lab and are converted; the
    action clip bounds the joint target (scale * action + default) and is kept per joint, and
    last_action observes the unclipped output, as in Isaac Lab.
    """
    robot = load_robot(robot_name)
    env = _load_yaml(env_yaml, _IsaacLabLoader)
    dt, decimation = float(_get(env, "sim.dt", env_yaml)), int(_get(env, "decimation", env_yaml))
    _check_rates(env_yaml, robot, 1.0 / dt, 1.0 / (dt * decimation))
    articulation = _isaac_articulation(robot, joint_order, env_yaml)
    action = _get(env, "actions.joint_pos", env_yaml)
    if not action.get("use_default_offset", False):
        raise HRobotError(f"{env_yaml}: actions.joint_pos.use_default_offset is false; only offsets around the "
                          "default pose are supported")
    order = _isaac_joint_order(action.get("joint_names"), bool(action.get("preserve_order", False)), articulation,
                               robot, "actions.joint_pos.joint_names", env_yaml)
    missing = [j for j in robot.joint_names if j not in order]
    if missing:
        raise HRobotError(f"{env_yaml}: actions.joint_pos.joint_names leave out joints of robot {robot.name}: "
                          f"{', '.join(missing)}")
    default = np.array(_regex_values(_get(env, "scene.robot.init_state.joint_pos", env_yaml), order,
                                     "init_state.joint_pos", env_yaml))
    gains = _actuators(_get(env, "scene.robot.actuators", env_yaml), order, env_yaml)
    scale = action.get("scale", 1.0)
    scale = _regex_values(scale, order, "actions.joint_pos.scale", env_yaml) if isinstance(scale, dict) else float(scale)
    terms, gather = _isaac_terms(env, robot, order, articulation, env_yaml)
    ranges = ((env.get("commands") or {}).get("base_velocity") or {}).get("ranges") or {}
    command = {"names": ["vx", "vy", "wz"],
               "low": [ranges.get(k, [-1, 1])[0] for k in ("lin_vel_x", "lin_vel_y", "ang_vel_z")],
               "high": [ranges.get(k, [-1, 1])[1] for k in ("lin_vel_x", "lin_vel_y", "ang_vel_z")]}
    out.mkdir(parents=True, exist_ok=True)
    names = _self_contained_copy(policy, out / "policy.onnx", gather)
    clip = action.get("clip")  # Isaac Lab: None, or {joint regex: [low, high]} bounding the joint target
    if clip is not None:
        if not isinstance(clip, dict):
            raise HRobotError(f"{env_yaml}: field 'actions.joint_pos.clip': expected {{joint regex: [low, high]}}")
        bounds = np.array([_regex_pair(clip, j, env_yaml) for j in order])
        s = np.broadcast_to(np.asarray(scale, dtype=np.float64), (len(order),))
        clip = {"low": ((bounds[:, 0] - default) / s).tolist(), "high": ((bounds[:, 1] - default) / s).tolist()}
    meta = _meta(robot, out.name, order, default, gains["stiffness"], gains["damping"], scale, terms, command,
                 {"tool": "isaaclab", "policy": str(policy), "env_yaml": str(env_yaml)}, action_clip=clip)
    meta.update(names)
    meta["last_action"] = "raw"
    meta["trained_limits"] = {"torque": gains["effort"], "velocity": gains["velocity"]}
    _finish(out, meta, policy)
    return out


def _regex_pair(mapping: dict, joint: str, src: Path) -> tuple[float, float]:
    for pattern, pair in mapping.items():
        if re.fullmatch(pattern, joint):
            if not (isinstance(pair, list) and len(pair) == 2 and pair[0] < pair[1]):
                raise HRobotError(f"{src}: field 'actions.joint_pos.clip.{pattern}': expected [low, high], got {pair}")
            return float(pair[0]), float(pair[1])
    raise HRobotError(f"{src}: field 'actions.joint_pos.clip': no entry matches joint '{joint}'")


def _actuators(groups, order: list[str], src: Path) -> dict[str, list]:
    """Per-joint stiffness, damping, effort and velocity limits from the actuator groups; every joint needs one."""
    if not isinstance(groups, dict):
        raise HRobotError(f"{src}: field 'scene.robot.actuators': expected a mapping of actuator groups")
    out: dict[str, list] = {k: [None] * len(order) for k in ("stiffness", "damping", "effort", "velocity")}
    owner: dict[str, str] = {}
    for group, act in groups.items():
        exprs = act.get("joint_names_expr") or []
        for i, j in enumerate(order):
            if not any(re.fullmatch(e, j) for e in exprs):
                continue
            if j in owner:
                raise HRobotError(f"{src}: joint '{j}' is in actuator groups '{owner[j]}' and '{group}'")
            owner[j] = group
            where = f"actuators.{group}"
            for key, names in (("stiffness", ("stiffness",)), ("damping", ("damping",)),
                               ("effort", ("effort_limit", "effort_limit_sim")),
                               ("velocity", ("velocity_limit", "velocity_limit_sim"))):
                field = next((n for n in names if act.get(n) is not None), None)
                if field is not None:
                    out[key][i] = _per_joint(act[field], [j], f"{where}.{field}", src)[0]
            for key in ("stiffness", "damping"):
                if out[key][i] is None:
                    raise HRobotError(f"{src}: field '{where}.{key}': missing for joint '{j}'")
    uncovered = [j for j in order if j not in owner]
    if uncovered:
        raise HRobotError(f"{src}: no actuator group covers joint(s) {', '.join(uncovered)} (their gains would be "
                          f"0): add them to a group's joint_names_expr")
    return out


def _isaac_terms(env: dict, robot: RobotSpec, order: list[str], articulation, src: Path):
    """The policy group's terms in hrobot's form, and the input permutation (None if not needed).

    hrobot computes joint terms in the action order; where Isaac Lab's term used another order, the
    graph's input is gathered back into the order the policy was trained on.
    """
    policy_group = _get(env, "observations.policy", src)
    if policy_group.get("history_length"):
        raise HRobotError(f"{src}: observations.policy.history_length > 0 is not supported")
    terms, gather, offset = [], [], 0
    n = robot.num_joints
    for key, term in policy_group.items():
        if not isinstance(term, dict) or "func" not in term:
            continue
        func = str(term["func"]).split(":")[-1]
        if func not in ISAACLAB_TERMS:
            raise HRobotError(f"{src}: observation term '{key}' ({func}) has no hrobot equivalent")
        if term.get("history_length"):
            raise HRobotError(f"{src}: observation term '{key}': per-term history is not supported")
        name = ISAACLAB_TERMS[func]
        size = {"base_lin_vel": 3, "base_ang_vel": 3, "projected_gravity": 3, "command": 3}.get(name, n)
        perm = list(range(size))
        if name in ("joint_pos", "joint_vel"):
            asset = (term.get("params") or {}).get("asset_cfg") or {}
            mine = _isaac_joint_order(asset.get("joint_names"), bool(asset.get("preserve_order", False)),
                                      articulation, robot, f"observations.policy.{key}.params.asset_cfg", src)
            if sorted(mine) != sorted(order):
                raise HRobotError(f"{src}: observation term '{key}' observes other joints than the actions act on")
            perm = [order.index(j) for j in mine]  # trained input slot k holds hrobot's slot perm[k]
        gather += [offset + k for k in perm]
        offset += size
        sc = 1.0 if term.get("scale") is None else term["scale"]
        terms.append({"name": name, "size": size, "scale": sc, "noise": 0.0,
                      "clip": _scaled_clip(term.get("clip"), sc, key, src)})
    return terms, (gather if gather != list(range(offset)) else None)


def _scaled_clip(clip, scale, key: str, src: Path) -> list[float] | None:
    """Isaac Lab clips a term before scaling it; hrobot after: the bounds scale with it."""
    if clip is None:
        return None
    if not (isinstance(clip, list) and len(clip) == 2 and clip[0] < clip[1]):
        raise HRobotError(f"{src}: observation term '{key}': clip: expected [low, high], got {clip}")
    s = np.unique(np.asarray(scale, dtype=np.float64))
    if len(s) != 1 or s[0] == 0:
        raise HRobotError(f"{src}: observation term '{key}': a clip with a per-element or zero scale is not supported")
    lo, hi = sorted((clip[0] * float(s[0]), clip[1] * float(s[0])))
    return [lo, hi]


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


def _self_contained_copy(src: Path, dst: Path, gather: list[int] | None = None) -> dict[str, str]:
    """Copy an ONNX model into one file (exporters may keep the weights in a side file, policy.onnx.data);
    with `gather`, the input is first reordered (input[:, gather]). Returns the input and output names."""
    import onnx
    from onnx import helper, numpy_helper

    if not src.is_file():
        raise HRobotError(f"{src}: file not found")
    try:
        model = onnx.load(str(src))  # also reads external data stored next to it
    except Exception as e:
        raise HRobotError(f"{src}: not a readable ONNX model: {str(e).splitlines()[0][:120]}") from None
    g = model.graph
    inputs = [i.name for i in g.input if i.name not in {t.name for t in g.initializer}]
    if len(inputs) != 1 or len(g.output) != 1:
        raise HRobotError(f"{src}: expected one observation input and one action output, found inputs {inputs} "
                          f"and {len(g.output)} outputs")
    name = inputs[0]
    if gather is not None:  # the graph now reads `name` in hrobot's order and gathers the trained order
        inner = f"{name}_trained_order"
        for node in g.node:
            node.input[:] = [inner if x == name else x for x in node.input]
        g.initializer.append(numpy_helper.from_array(np.asarray(gather, dtype=np.int64), f"{name}_gather_index"))
        g.node.insert(0, helper.make_node("Gather", [name, f"{name}_gather_index"], [inner], axis=1,
                                          name="hrobot_joint_order"))
    onnx.save_model(model, str(dst), save_as_external_data=False)
    return {"input_name": name, "output_name": g.output[0].name}


def _finish(out: Path, meta: dict, policy: Path) -> None:
    import json

    write_metadata(out / "policy.onnx", meta)
    (out / "card.json").write_text(json.dumps({"name": out.name, "robot": meta["robot"]["name"],
                                               "imported_from": meta["source"], "level": "low"}, indent=2) + "\n")
    load_bundle(out)  # the result must pass the same validation as a native bundle
