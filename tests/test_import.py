"""Importing policies trained with Isaac Lab and legged_gym (files built in those tools' formats)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import onnxruntime as ort
import torch
from tensordict import TensorDict

from hrobot.bundle import load_bundle
from hrobot.cli import main
from hrobot.importers import KNOWN_JOINT_ORDERS
from hrobot.sim.robot import SimRobot
from hrobot.robots import load_robot
from hrobot.runtime import PolicyRuntime

ISAAC_ORDER = KNOWN_JOINT_ORDERS[("isaaclab", "go2")]
LEGGED_ORDER = KNOWN_JOINT_ORDERS[("legged-gym", "go2")]
ISAAC_DEFAULT = {"FL_hip_joint": 0.1, "FR_hip_joint": -0.1, "RL_hip_joint": 0.1, "RR_hip_joint": -0.1}

ENV_YAML = """sim:
  dt: 0.005
  gravity: !!python/tuple
  - 0.0
  - 0.0
  - -9.81
decimation: 4
scene:
  robot:
    init_state:
      pos: !!python/tuple
      - 0.0
      - 0.0
      - 0.4
      joint_pos:
        .*L_hip_joint: 0.1
        .*R_hip_joint: -0.1
        F[L,R]_thigh_joint: 0.8
        R[L,R]_thigh_joint: 1.0
        .*_calf_joint: -1.5
    actuators:
      base_legs:
        class_type: isaaclab.actuators.actuator_pd:DCMotor
        joint_names_expr:
        - .*_hip_joint
        - .*_thigh_joint
        - .*_calf_joint
        effort_limit: 23.5
        stiffness: 25.0
        damping: 0.5
observations:
  policy:
    concatenate_terms: true
    history_length: null
{terms}
actions:
  joint_pos:
    class_type: isaaclab.envs.mdp.actions.joint_actions:JointPositionAction
    joint_names:
    - .*
    scale: 0.25
    use_default_offset: true
    preserve_order: false
commands:
  base_velocity:
    ranges:
      lin_vel_x: !!python/tuple
      - -1.0
      - 1.0
      lin_vel_y: !!python/tuple
      - -1.0
      - 1.0
      ang_vel_z: !!python/tuple
      - -1.0
      - 1.0
"""
TERM = """    {key}:
      func: isaaclab.envs.mdp.observations:{func}
      noise: null
      clip: null
      scale: {scale}
      history_length: 0"""
TERMS = [("base_lin_vel", "base_lin_vel", "null"), ("base_ang_vel", "base_ang_vel", "null"),
         ("projected_gravity", "projected_gravity", "null"), ("velocity_commands", "generated_commands", "null"),
         ("joint_pos", "joint_pos_rel", "null"), ("joint_vel", "joint_vel_rel", "0.05"), ("actions", "last_action", "null")]


def _isaaclab_files(tmp_path: Path, terms=TERMS) -> tuple[Path, Path]:
    """An rsl_rl actor exported by rsl_rl's own ONNX exporter, and an Isaac Lab style env.yaml."""
    from rsl_rl.models import MLPModel
    from rsl_rl.runners import OnPolicyRunner

    torch.manual_seed(0)
    obs = TensorDict({"policy": torch.zeros(1, 48)}, batch_size=[1])
    actor = MLPModel(obs, {"actor": ["policy"]}, "actor", 12, hidden_dims=[64, 64], obs_normalization=True,
                     distribution_cfg={"class_name": "GaussianDistribution", "init_std": 1.0})
    actor.obs_normalizer.update(torch.randn(256, 48) * 3)  # non-trivial normaliser, must end up in the graph
    OnPolicyRunner.export_policy_to_onnx(SimpleNamespace(alg=SimpleNamespace(get_policy=lambda: actor)), str(tmp_path))
    env = tmp_path / "env.yaml"
    env.write_text(ENV_YAML.replace("{terms}", "\n".join(TERM.format(key=k, func=f, scale=s) for k, f, s in terms)))
    return tmp_path / "policy.onnx", env


def _random_state(robot, seed=0):
    rng = np.random.default_rng(seed)
    sim = SimRobot(robot)
    st = sim.read_state()
    st.joint_pos = robot.default_pose + rng.normal(0, 0.2, 12)
    st.joint_vel = rng.normal(0, 2, 12)
    st.base_ang_vel = rng.normal(0, 0.5, 3)
    st.base_lin_vel = rng.normal(0, 0.5, 3)
    q = np.array([1.0, 0.05, -0.08, 0.3])
    st.base_quat = q / np.linalg.norm(q)
    return st


def _gravity(q):
    w, x, y, z = q
    return np.array([-2 * (x * z - w * y), -2 * (y * z + w * x), -(1 - 2 * (x * x + y * y))])


def test_isaaclab_import_maps_joint_order_and_observation(tmp_path, capsys):
    policy, env = _isaaclab_files(tmp_path)
    out = tmp_path / "bundle"
    assert main(["import", "isaaclab", str(policy), str(env), "--robot", "go2", "--out", str(out)]) == 0
    robot = load_robot("go2")
    rt = PolicyRuntime(load_bundle(out))
    st = _random_state(robot)
    cmd = np.array([0.5, -0.2, 0.3])
    action = rt.act(rt.observation(st, cmd))

    # reference: the observation built the Isaac Lab way, in Isaac Lab's joint order
    idx = [robot.joint_names.index(j) for j in ISAAC_ORDER]
    default = np.array([ISAAC_DEFAULT.get(j, 0.8 if "F" in j[0] and "thigh" in j else 1.0 if "thigh" in j else -1.5)
                        for j in ISAAC_ORDER])
    obs = np.concatenate([st.base_lin_vel, st.base_ang_vel, _gravity(st.base_quat), cmd,
                          st.joint_pos[idx] - default, 0.05 * st.joint_vel[idx], np.zeros(12)]).astype(np.float32)
    ref = ort.InferenceSession(str(policy)).run(None, {"obs": obs[None]})[0][0]
    np.testing.assert_allclose(action, ref, atol=1e-5)
    targets = rt.targets(action)
    np.testing.assert_allclose(targets[idx], default + 0.25 * ref, atol=1e-5)
    kp, _ = rt.gains()
    assert np.all(kp == 25.0)


def test_legged_gym_import_maps_joint_order_and_observation(tmp_path):
    torch.manual_seed(1)
    net = torch.nn.Sequential(torch.nn.Linear(48, 64), torch.nn.ELU(), torch.nn.Linear(64, 12))
    torch.jit.script(net).save(str(tmp_path / "policy.pt"))  # as legged_gym's export_policy_as_jit
    default = [0.1, 0.8, -1.5, -0.1, 0.8, -1.5, 0.1, 1.0, -1.5, -0.1, 1.0, -1.5]
    (tmp_path / "go2.yaml").write_text(f"""policy_path: policy.pt
simulation_dt: 0.005
control_decimation: 4
kps: {[20.0] * 12}
kds: {[0.5] * 12}
default_angles: {default}
lin_vel_scale: 2.0
ang_vel_scale: 0.25
dof_pos_scale: 1.0
dof_vel_scale: 0.05
action_scale: 0.25
cmd_scale: [2.0, 2.0, 0.25]
num_actions: 12
num_obs: 48
""")
    out = tmp_path / "bundle"
    assert main(["import", "legged-gym", str(tmp_path / "policy.pt"), str(tmp_path / "go2.yaml"), "--robot", "go2",
                 "--out", str(out)]) == 0
    robot = load_robot("go2")
    rt = PolicyRuntime(load_bundle(out))
    st = _random_state(robot, seed=3)
    cmd = np.array([0.8, 0.0, -0.5])
    action = rt.act(rt.observation(st, cmd))
    idx = [robot.joint_names.index(j) for j in LEGGED_ORDER]
    obs = np.concatenate([2.0 * st.base_lin_vel, 0.25 * st.base_ang_vel, _gravity(st.base_quat),
                          cmd * np.array([2.0, 2.0, 0.25]), st.joint_pos[idx] - np.array(default),
                          0.05 * st.joint_vel[idx], np.zeros(12)]).astype(np.float32)
    ref = net(torch.from_numpy(obs)[None]).detach().numpy()[0]
    np.testing.assert_allclose(action, ref, atol=1e-5)
    np.testing.assert_allclose(rt.targets(action)[idx], np.array(default) + 0.25 * ref, atol=1e-5)


def test_import_refuses_unmappable_input(tmp_path, capsys):
    policy, env = _isaaclab_files(tmp_path, TERMS[:-1] + [("height_scan", "height_scan", "null")])
    code = main(["import", "isaaclab", str(policy), str(env), "--robot", "go2", "--out", str(tmp_path / "b")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "observation term 'height_scan' (height_scan) has no hrobot equivalent" in err[0]
    code = main(["import", "isaaclab", str(policy), str(env), "--robot", "g1", "--out", str(tmp_path / "c")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "g1" in err[0]
