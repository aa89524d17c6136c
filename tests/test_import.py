"""Importing policies trained with Isaac Lab and legged_gym (files built in those tools' formats)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
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


# ---------------------------------------------------------------- Isaac Lab import robustness

SDK_ORDER = load_robot("go2").joint_names  # FR, FL, RR, RL x (hip, thigh, calf): not Isaac Lab's articulation order


def _edit_actions(env: Path, names=None, preserve=False, clip=None) -> None:
    text = env.read_text()
    if names is not None:
        text = text.replace("    joint_names:\n    - .*\n", "    joint_names:\n" + "".join(f"    - {n}\n" for n in names))
    text = text.replace("preserve_order: false", f"preserve_order: {str(preserve).lower()}")
    if clip is not None:
        text = text.replace("    use_default_offset: true\n", "    use_default_offset: true\n    clip:\n" + "".join(
            f"      {k}:\n      - {lo}\n      - {hi}\n" for k, (lo, hi) in clip.items()))
    env.write_text(text)


def _legacy_opset11(tmp_path: Path) -> Path:
    """The older exporter's form: opset 11, weights inside the file."""
    from rsl_rl.models import MLPModel

    torch.manual_seed(0)
    obs = TensorDict({"policy": torch.zeros(1, 48)}, batch_size=[1])
    actor = MLPModel(obs, {"actor": ["policy"]}, "actor", 12, hidden_dims=[64, 64], obs_normalization=True,
                     distribution_cfg={"class_name": "GaussianDistribution", "init_std": 1.0})
    actor.obs_normalizer.update(torch.randn(256, 48) * 3)
    module = actor.as_onnx(verbose=False).eval()
    path = tmp_path / "legacy" / "policy.onnx"
    path.parent.mkdir()
    torch.onnx.export(module, module.get_dummy_inputs(), str(path), input_names=["obs"], output_names=["actions"],
                      opset_version=11, dynamo=False)
    return path


@pytest.mark.parametrize("form", ["opset18_external", "opset11"])
@pytest.mark.parametrize("preserve", [True, False])
def test_isaaclab_preserve_order_maps_actions_and_observations(tmp_path, form, preserve):
    """Actions listed in the SDK order; observations in the articulation order (Isaac Lab's default).

    With preserve_order the policy acts in the listed order (on e18d371 this was ignored: joints
    silently wrong); without it, in the articulation order whatever the list says."""
    import onnx

    policy, env = _isaaclab_files(tmp_path)
    if form == "opset11":
        policy = _legacy_opset11(tmp_path)
    else:
        assert policy.with_name("policy.onnx.data").is_file()  # rsl_rl's exporter keeps weights beside it
    assert onnx.load(str(policy), load_external_data=False).opset_import[0].version == (11 if form == "opset11" else 18)
    _edit_actions(env, names=SDK_ORDER, preserve=preserve)
    out = tmp_path / "bundle"
    assert main(["import", "isaaclab", str(policy), str(env), "--robot", "go2", "--out", str(out)]) == 0
    b = load_bundle(out)
    act_order = SDK_ORDER if preserve else ISAAC_ORDER
    assert b.meta["joint_names"] == act_order
    robot = load_robot("go2")
    rt = PolicyRuntime(b)
    st = _random_state(robot, seed=5)
    cmd = np.array([0.4, 0.1, -0.3])
    action = rt.act(rt.observation(st, cmd))
    art = [robot.joint_names.index(j) for j in ISAAC_ORDER]  # observation: articulation order
    default = {j: ISAAC_DEFAULT.get(j, 0.8 if j[0] == "F" and "thigh" in j else 1.0 if "thigh" in j else -1.5)
               for j in robot.joint_names}
    d_art = np.array([default[j] for j in ISAAC_ORDER])
    obs = np.concatenate([st.base_lin_vel, st.base_ang_vel, _gravity(st.base_quat), cmd, st.joint_pos[art] - d_art,
                          0.05 * st.joint_vel[art], np.zeros(12)]).astype(np.float32)
    ref = ort.InferenceSession(str(policy)).run(None, {"obs": obs[None]})[0][0]
    np.testing.assert_allclose(action, ref, atol=1e-5)
    acted = [robot.joint_names.index(j) for j in act_order]  # action k drives joint act_order[k]
    np.testing.assert_allclose(rt.targets(action)[acted], np.array([default[j] for j in act_order]) + 0.25 * ref,
                               atol=1e-5)


def test_isaaclab_partial_actuator_groups_are_refused_by_name(tmp_path, capsys):
    """On e18d371 the calves got kp = kd = 0 and validate said valid."""
    policy, env = _isaaclab_files(tmp_path)
    env.write_text(env.read_text().replace("        - .*_calf_joint\n", ""))
    code = main(["import", "isaaclab", str(policy), str(env), "--robot", "go2", "--out", str(tmp_path / "b")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "no actuator group covers" in err[0] and "FL_calf_joint" in err[0] and "RR_calf_joint" in err[0]


def test_isaaclab_clips_limits_and_estimator_are_kept(tmp_path, capsys):
    """Uneven clips stay uneven (e18d371: +-max), the action clip is kept per joint (e18d371: dropped
    or made symmetric), the trained effort limit is compared with the spec's, and a policy that
    observes base velocity is flagged as needing an estimator on a real robot."""
    from hrobot.bundle import check_provides, spec_differences
    from hrobot.errors import HRobotError

    terms = [(k, f, s) for k, f, s in TERMS]
    policy, env = _isaaclab_files(tmp_path, terms)
    text = env.read_text().replace("      clip: null\n      scale: 0.05", "      clip: !!python/tuple\n      - -0.5\n"
                                   "      - 2.0\n      scale: 0.05")
    env.write_text(text.replace("        effort_limit: 23.5\n", "        effort_limit: 23.5\n        velocity_limit: 30.0\n"))
    _edit_actions(env, clip={".*_calf_joint": (-2.0, -1.2), ".*": (-3.0, 3.0)})
    out = tmp_path / "bundle"
    assert main(["import", "isaaclab", str(policy), str(env), "--robot", "go2", "--out", str(out)]) == 0
    b = load_bundle(out)
    vel = next(t for t in b.meta["observation"] if t["name"] == "joint_vel")
    np.testing.assert_allclose(vel["clip"], [-0.025, 0.1])  # Isaac Lab clips before scaling
    rt = PolicyRuntime(b)
    st = _random_state(load_robot("go2"))
    st.joint_vel[:] = 50.0  # far outside the clip
    frame = rt.observation(st, np.zeros(3))
    off = 12 + 12  # lin, ang, gravity, command, joint_pos
    np.testing.assert_allclose(frame[0, off:off + 12], 0.1)
    robot = load_robot("go2")
    calves = [i for i, j in enumerate(b.meta["joint_names"]) if "calf" in j]
    for big in (-1e3, 1e3):  # targets of the calves stay inside Isaac Lab's [-2.0, -1.2]
        action = np.full(12, big, dtype=np.float32)
        clipped = np.clip(action, *rt.clip)
        q = rt.targets(clipped)[[robot.joint_names.index(b.meta["joint_names"][i]) for i in calves]]
        assert np.all(q >= -2.0 - 1e-6) and np.all(q <= -1.2 + 1e-6)
    assert b.meta["last_action"] == "raw"
    diffs = spec_differences(b.meta, robot)
    assert any("torque limit[FL_hip_joint]: trained with 23.5, spec 23.7" in d for d in diffs)
    assert any("velocity limit[FL_calf_joint]: trained with 30, spec 20.07 (more than the robot allows" in d
               for d in diffs)
    try:
        check_provides(b.meta, ["joint_pos", "joint_vel", "base_quat", "base_ang_vel"], "the driver", out)
        raise AssertionError("a bundle that observes base_lin_vel loaded on a robot without an estimator")
    except HRobotError as e:
        assert "base_lin_vel" in str(e) and "state estimator" in str(e)
    assert main(["validate", str(out)]) == 0
    assert "trained with 23.5" in capsys.readouterr().out
    from hrobot.bundle import read_metadata
    from hrobot.export import write_metadata

    meta = read_metadata(out)
    write_metadata(out / "policy.onnx", {**meta, "trained_limits": {"torque": ["lots"] * 12}})
    assert main(["validate", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "trained_limits.torque" in err[0]


def test_sim2sim_and_eval_run_an_imported_bundle(tmp_path, capsys):
    """On e18d371: `unknown task 'None'`. The sweep spans the bundle's own command ranges."""
    import json

    policy, env = _isaaclab_files(tmp_path)
    env.write_text(env.read_text().replace("      lin_vel_x: !!python/tuple\n      - -1.0\n      - 1.0",
                                           "      lin_vel_x: !!python/tuple\n      - -0.5\n      - 1.5"))
    out = tmp_path / "bundle"
    assert main(["import", "isaaclab", str(policy), str(env), "--robot", "go2", "--out", str(out)]) == 0
    assert main(["sim2sim", str(out), "--episodes", "2", "--pd-rate", "200", "--json", str(tmp_path / "s.json")]) == 0
    res = json.loads((tmp_path / "s.json").read_text())
    assert res["command_ranges"]["low"][0] == -0.5 and res["command_ranges"]["high"][0] == 1.5
    assert res["episodes"] == 2 and np.isfinite(res["fall_rate"])
    assert main(["eval", str(out), "--episodes", "2", "--json", str(tmp_path / "e.json")]) == 0
    assert json.loads((tmp_path / "e.json").read_text())["conditions"]["pd_rate_hz"] == 200
