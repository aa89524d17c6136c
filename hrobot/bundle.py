"""Policy bundles: `policy.onnx` with the metadata deployment needs, plus `card.json` for people.

The ONNX file carries one metadata entry, `hrobot`, a JSON document with everything a
deployment must agree on: the robot spec, the policy's joint order, default pose, gains,
action scale, the ordered observation layout (terms, sizes, scales, clips), history
length, command names and ranges, policy and PD rates, level (low / high), skills and a
format version. The observation normaliser (if any) is part of the graph. Recurrent
policies (rsl_rl's LSTM / GRU actors) take their hidden state as extra inputs and return
the next one as extra outputs (`recurrent` in the metadata names them).

`load_bundle` validates a bundle against the robot it will drive and refuses a mismatch
with one line naming the field, what was expected and what was found.
"""

from __future__ import annotations

import json
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hrobot.errors import HRobotError
from hrobot.obs import ObservationLayout, ObsTerm
from hrobot.spec import RobotSpec

FORMAT_VERSION = 1
META_KEY = "hrobot"
REQUIRED_KEYS = ("format_version", "level", "name", "robot", "joint_names", "default_joint_pos", "kp", "kd",
                 "action_scale", "observation", "obs_dim", "action_dim", "history_length", "command",
                 "policy_rate_hz", "pd_rate_hz", "input_name", "output_name")


@dataclass
class Bundle:
    path: Path
    meta: dict
    robot: RobotSpec  # the robot this bundle was made for (its embedded spec)
    session: object  # onnxruntime.InferenceSession (1 intra-op, 1 inter-op thread)
    layout: ObservationLayout
    policy_to_robot: np.ndarray  # index of each policy joint in the robot's joint order

    @property
    def level(self) -> str:
        return self.meta["level"]

    @property
    def recurrent(self) -> dict | None:
        """For recurrent policies: rnn type, num_layers, hidden_size, state input and output names."""
        return self.meta.get("recurrent")

    def initial_state(self, batch: int = 1) -> list[np.ndarray]:
        """The zero recurrent state for `batch` robots ([] for feed-forward policies)."""
        r = self.recurrent
        if not r:
            return []
        return [np.zeros((r["num_layers"], batch, r["hidden_size"]), np.float32) for _ in r["state_inputs"]]

    def step(self, obs: np.ndarray, state: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        """Policy output for (N, obs_dim * history) observations and the next recurrent state."""
        r = self.recurrent
        if not r:
            return self.run(obs), state
        feeds = {self.meta["input_name"]: obs.astype(np.float32), **dict(zip(r["state_inputs"], state))}
        out = self.session.run([self.meta["output_name"], *r["state_outputs"]], feeds)
        return out[0], out[1:]

    def run(self, obs: np.ndarray) -> np.ndarray:
        """Raw policy output for observations (N, obs_dim * history) in float32 (feed-forward policies)."""
        if self.recurrent:
            raise HRobotError(f"{self.path}: a recurrent policy needs its state: use step(obs, state)")
        return self.session.run([self.meta["output_name"]], {self.meta["input_name"]: obs.astype(np.float32)})[0]


# ---------------------------------------------------------------- export


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
    """Export a training run (low-level skill or high-level policy) as a bundle folder."""
    from hrobot.tasks import load_task
    from hrobot.train import load_actor, run_info

    run_dir, out = Path(run_dir), Path(out)
    info = run_info(run_dir)
    mod = load_task(info["task"])
    if mod.KIND == "navigation":
        from hrobot.tasks.navigation import policy_cfg

        cfg = policy_cfg(info, num_envs=1)
    else:
        cfg = mod.env_cfg()
        cfg.num_envs = 1
    env = mod.make_env(cfg, seed=0, eval_mode=True)
    actor = load_actor(run_dir, env)
    out.mkdir(parents=True, exist_ok=True)
    obs_dim = int(env.get_observations()["policy"].shape[1])
    graph = _export_onnx(actor, out / "policy.onnx")

    robot = env.robot
    meta = {
        "format_version": FORMAT_VERSION,
        "name": out.name,
        "task": info["task"],
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
        "normalizer": "in the graph" if train_cfg_normalized(run_dir) else "none (observations are pre-scaled)",
        "source": {"tool": "hrobot", "run": str(run_dir), "checkpoint": info["checkpoint"]},
    }
    if mod.KIND == "locomotion":
        c = cfg.commands
        meta.update({
            "level": "low",
            "action_dim": robot.num_joints,
            "observation": env.policy_layout.to_list(),
            "command": {"names": ["vx", "vy", "wz"], "low": [c.lin_vel_x[0], c.lin_vel_y[0], c.ang_vel_z[0]],
                        "high": [c.lin_vel_x[1], c.lin_vel_y[1], c.ang_vel_z[1]]},
        })
    else:
        _copy_skills(env, out)
        meta.update({
            "level": "high",
            "action_dim": env.num_actions,
            "observation": [{"name": "navigation", "size": obs_dim, "scale": 1.0, "noise": 0.0, "clip": None}],
            "command": {"names": ["goal_x", "goal_y", "goal_yaw"], "frame": "world (odometry)",
                        "low": [-cfg.arena_half_size, -cfg.arena_half_size, -np.pi],
                        "high": [cfg.arena_half_size, cfg.arena_half_size, np.pi]},
            "high_level": {
                "rate_hz": cfg.hl_rate_hz, "episode_s": cfg.episode_s, "num_rays": cfg.num_rays,
                "ray_range": cfg.ray_range, "ray_heights": list(cfg.ray_heights),
                "success_distance": cfg.success_distance, "success_yaw": cfg.success_yaw,
                "skill_prior": list(cfg.skill_prior),
                "action": "one preference per skill (largest, after adding skill_prior, wins, if several), then "
                          "the command, tanh-squashed into the chosen skill's range",
            },
            "skills": [{"name": s.name, "path": f"skills/{_skill_dir(s)}"} for s in env.skills],
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


def _training_record(info: dict) -> dict:
    """The card's training section; a warm-started run also records the run it started from (recursively)."""
    rec = {k: info.get(k) for k in ("commands", "iterations", "env_steps", "seed", "wall_time_s", "hardware",
                                    "num_envs", "backend", "git_commit", "init_from", "skills", "torch")}
    if info.get("init_from"):  # "<run>/<model_N.pt>: actor ..." as written by hrobot train --init-from
        src = Path(info["init_from"].split(": ")[0]).parent
        if (src / "run.json").is_file():
            rec["warm_start"] = _training_record(json.loads((src / "run.json").read_text()))
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


# ---------------------------------------------------------------- loading and validation


def read_metadata(path: Path) -> dict:
    import onnx

    onnx_path = Path(path) / "policy.onnx" if Path(path).is_dir() else Path(path)
    if not onnx_path.is_file():
        raise HRobotError(f"{path}: no policy.onnx (not a policy bundle)")
    try:
        model = onnx.load(str(onnx_path))
        onnx.checker.check_model(model)
    except Exception as e:
        first = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        raise HRobotError(f"{onnx_path}: not a valid ONNX model (truncated or corrupt?): {first}") from None
    props = {p.key: p.value for p in model.metadata_props}
    if META_KEY not in props:
        raise HRobotError(f"{onnx_path}: missing metadata key '{META_KEY}' (not exported by hrobot export/import)")
    try:
        meta = json.loads(props[META_KEY])
    except json.JSONDecodeError as e:
        raise HRobotError(f"{onnx_path}: metadata '{META_KEY}' is not valid JSON: {e.msg}") from None
    for key in REQUIRED_KEYS:
        if key not in meta:
            raise HRobotError(f"{onnx_path}: missing metadata key '{key}'")
    if meta["format_version"] != FORMAT_VERSION:
        raise HRobotError(f"{onnx_path}: metadata format_version: expected {FORMAT_VERSION}, "
                          f"found {meta['format_version']}")
    return meta


def _mismatch(where: Path, field: str, expected, found) -> HRobotError:
    return HRobotError(f"{where}: bundle does not match the robot: {field}: expected {expected}, found {found}")


def validate(meta: dict, robot: RobotSpec, where: Path) -> np.ndarray:
    """Check a bundle against the robot it will drive; returns the policy->robot joint index map."""
    if meta["robot"]["name"] != robot.name:
        raise _mismatch(where, "robot", robot.name, meta["robot"]["name"])
    names = list(meta["joint_names"])
    if sorted(names) != sorted(robot.joint_names):
        missing = [j for j in robot.joint_names if j not in names]
        extra = [j for j in names if j not in robot.joint_names]
        raise _mismatch(where, "joint_names", f"the robot's {robot.num_joints} joints",
                        f"missing {missing}, unknown {extra}")
    bundle_joints = {j["name"]: j for j in meta["robot"]["joints"]}
    for j in robot.joints:
        b = bundle_joints.get(j.name)
        if b is None:
            raise _mismatch(where, f"robot.joints[{j.name}]", "present", "absent")
        for field, mine, theirs in (("range", [j.lower, j.upper], b["range"]),
                                    ("velocity", j.velocity_limit, b["velocity"]),
                                    ("torque", j.torque_limit, b["torque"])):
            if not np.allclose(mine, theirs, atol=1e-6):
                raise _mismatch(where, f"joints[{j.name}].{field}", mine, theirs)
    for field in ("policy_rate_hz", "pd_rate_hz"):
        if not np.isclose(meta[field], getattr(robot, field)):
            raise _mismatch(where, field, getattr(robot, field), meta[field])
    n = robot.num_joints
    for field in ("default_joint_pos", "kp", "kd"):
        if len(meta[field]) != n:
            raise _mismatch(where, f"{field} length", n, len(meta[field]))
    if meta["level"] == "low" and meta["action_dim"] != n:
        raise _mismatch(where, "action_dim", n, meta["action_dim"])
    sizes = sum(t["size"] for t in meta["observation"])
    if sizes != meta["obs_dim"]:
        raise HRobotError(f"{where}: metadata observation terms add up to {sizes}, but obs_dim is {meta['obs_dim']}")
    return np.array([robot.joint_names.index(j) for j in names], dtype=np.int64)


def _session(onnx_path: Path):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1  # one thread each: a thread pool per core starves a control loop
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(str(onnx_path), sess_options=opts, providers=["CPUExecutionProvider"])


def load_bundle(path: str | Path, robot: RobotSpec | None = None) -> Bundle:
    """Load and validate a bundle. Without `robot`, it is validated against its own robot's spec."""
    from hrobot.robots import load_robot

    path = Path(path)
    meta = read_metadata(path)
    onnx_path = path / "policy.onnx" if path.is_dir() else path
    target = robot or load_robot(meta["robot"]["name"])
    index = validate(meta, target, onnx_path)
    embedded = RobotSpec.from_dict({**meta["robot"], "model": "builtin"} if meta["robot"]["model"] == "builtin"
                                   else {**meta["robot"], "model": target.model}, source=str(onnx_path))
    session = _session(onnx_path)
    inp, out = session.get_inputs()[0], session.get_outputs()[0]
    expected_in = meta["obs_dim"] * meta["history_length"]
    if inp.name != meta["input_name"] or inp.shape[-1] != expected_in:
        raise _mismatch(onnx_path, "ONNX input", f"{meta['input_name']} with {expected_in} values",
                        f"{inp.name} with {inp.shape[-1]}")
    if out.shape[-1] != meta["action_dim"]:
        raise _mismatch(onnx_path, "ONNX output size", meta["action_dim"], out.shape[-1])
    r = meta.get("recurrent")
    found = ([i.name for i in session.get_inputs()[1:]], [o.name for o in session.get_outputs()[1:]])
    expected = (r["state_inputs"], r["state_outputs"]) if r else ([], [])
    if found != expected:
        raise HRobotError(f"{onnx_path}: recurrent state inputs/outputs: expected {expected} (metadata), "
                          f"found {found} (ONNX graph)")
    terms = [ObsTerm(t["name"], tuple(t["scale"]) if isinstance(t["scale"], list) else t["scale"], 0.0, t["clip"])
             for t in meta["observation"]]
    sizes = {t["name"]: t["size"] for t in meta["observation"]}
    layout = _layout(terms, embedded, sizes, meta)
    return Bundle(path=path, meta=meta, robot=embedded, session=session, layout=layout, policy_to_robot=index)


def _layout(terms, robot: RobotSpec, sizes: dict, meta: dict) -> ObservationLayout | None:
    """Low-level bundles use the shared observation terms; the high level builds its own vector."""
    if meta["level"] == "high":
        return None
    policy_robot = _policy_order_spec(robot, meta)
    return ObservationLayout(terms, policy_robot, sizes)


def _policy_order_spec(robot: RobotSpec, meta: dict) -> RobotSpec:
    """The robot spec with joints in the policy's order and the policy's default pose and gains."""
    from dataclasses import replace

    by_name = {j.name: j for j in robot.joints}
    joints = tuple(replace(by_name[n], default=float(d), kp=float(kp), kd=float(kd))
                   for n, d, kp, kd in zip(meta["joint_names"], meta["default_joint_pos"], meta["kp"], meta["kd"]))
    return replace(robot, joints=joints)


def skill_from_bundle(path: Path, device: str = "cpu"):
    """A frozen skill (for a high level) backed by the bundle's ONNX policy."""
    from hrobot.skills import Skill

    b = load_bundle(path)
    if b.level != "low":
        raise HRobotError(f"{path}: a skill must be a low-level bundle, found level '{b.level}'")
    if b.recurrent:
        raise HRobotError(f"{path}: recurrent skills are not supported under a high level yet")
    if not np.array_equal(b.policy_to_robot, np.arange(b.robot.num_joints)):
        raise HRobotError(f"{path}: skills must use the robot's joint order")
    layout = ObservationLayout(b.layout.terms, b.robot, b.layout.sizes, device)

    def policy(obs: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(b.run(obs.detach().cpu().numpy())).to(obs.device)

    c = b.meta["command"]
    return Skill(name=b.meta["name"], robot=b.robot, layout=layout, command_names=tuple(c["names"]),
                 command_low=torch.tensor(c["low"], device=device, dtype=torch.float32),
                 command_high=torch.tensor(c["high"], device=device, dtype=torch.float32),
                 policy=policy, source=str(path))
