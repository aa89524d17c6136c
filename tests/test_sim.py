"""Batched simulation backends (issue: parallel simulation)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hrobot.robots import load_robot
from hrobot.sim.batch import make_batched_sim
from hrobot.sim.model import build_sim_model
from hrobot.sim.scene import SceneConfig

HORIZON_STEPS = 25  # policy steps (0.5 s at 50 Hz)


def _targets(robot, n: int, step: int) -> torch.Tensor:
    """A smooth, per-env different joint-target pattern around the default pose."""
    phase = torch.arange(n, dtype=torch.float64)[:, None] * 0.3 + torch.arange(robot.num_joints)[None] * 0.5
    return torch.as_tensor(robot.default_pose) + 0.15 * torch.sin(2 * math.pi * step / 25 + phase)


def _run(backend: str, n: int = 8):
    robot = load_robot("go2")
    sm = build_sim_model(robot, SceneConfig(visual=False))
    sim = make_batched_sim(backend, sm, n, robot.decimation, device="cpu" if backend == "warp" else None)
    qpos0 = torch.as_tensor(sm.default_qpos()).repeat(n, 1)
    qpos0[:, 2] = 0.31
    sim.reset(torch.arange(n), qpos0, torch.zeros(n, sm.model.nv))
    traj = []
    for k in range(HORIZON_STEPS):
        sim.step(_targets(robot, n, k))
        traj.append(torch.cat([sim.qpos.double().cpu(), sim.qvel.double().cpu()], dim=1).clone())
    return sm, torch.stack(traj), sim


def test_native_backend_is_deterministic():
    _, a, _ = _run("mujoco")
    _, b, _ = _run("mujoco")
    assert torch.equal(a, b)


def test_warp_and_native_backends_agree():
    """Same initial state and targets: trajectories agree over 0.5 s (warp is float32)."""
    pytest.importorskip("mujoco_warp", reason="the warp extra is installed by `make test`")
    sm, native, _ = _run("mujoco")
    _, warp, _ = _run("warp")
    jq = torch.as_tensor(sm.qpos_adr)
    # Stated tolerance: 1 mm on the base position, 0.005 rad on every joint, at every policy step
    # (measured on CPU: ~1e-7 m and ~1e-6 rad; warp runs in float32, native in float64).
    base_err = (native[:, :, 0:3] - warp[:, :, 0:3]).abs().max()
    joint_err = (native[:, :, jq] - warp[:, :, jq]).abs().max()
    assert base_err < 1e-3, f"base position differs by {base_err:.2e} m"
    assert joint_err < 5e-3, f"joint position differs by {joint_err:.2e} rad"
    # and the robots really moved (not a trivially equal standstill)
    assert (native[-1, :, jq] - native[0, :, jq]).abs().max() > 0.05


def test_nan_in_the_physics_is_reported_with_the_env():
    from hrobot.sim.batch import SimulationDiverged

    robot = load_robot("go2")
    sm = build_sim_model(robot, SceneConfig(visual=False))
    sim = make_batched_sim("mujoco", sm, 4, robot.decimation)
    sim.models[2].body_mass[sm.base_body] = np.nan
    with pytest.raises(SimulationDiverged, match="env 2|diverging"):
        sim.step(torch.as_tensor(robot.default_pose).repeat(4, 1))


@pytest.mark.parametrize("backend", ["mujoco", "warp"])
def test_a_mass_changed_per_env_reaches_mujocos_derived_constants(backend):
    """Domain randomisation writes masses per env; `set_constants` re-derives what MuJoCo computed from them at
    compile time (inverse weights that scale constraint and contact softness, subtree masses) for those envs only."""
    if backend == "warp":
        pytest.importorskip("mujoco_warp", reason="the warp extra is installed by `make test`")
    robot = load_robot("go2")
    sm = build_sim_model(robot, SceneConfig(visual=False))
    sim = make_batched_sim(backend, sm, 2, robot.decimation, device="cpu" if backend == "warp" else None)
    b = sm.base_body
    before = sim.model_field("body_invweight0", 1)[b].copy()
    sim.set_model_field("body_mass", torch.tensor([0]), b, torch.tensor([float(sm.model.body_mass[b]) + 3.0]))
    sim.set_constants(torch.tensor([0]))
    assert sim.model_field("body_subtreemass", 0)[b] == pytest.approx(sm.model.body_subtreemass[b] + 3.0, rel=1e-5)
    assert sim.model_field("body_invweight0", 0)[b][0] < 0.9 * before[0]  # heavier: a smaller inverse weight
    np.testing.assert_allclose(sim.model_field("body_invweight0", 1)[b], before, rtol=1e-3)  # env 1 untouched
    assert sim.model_field("body_subtreemass", 1)[b] == pytest.approx(sm.model.body_subtreemass[b], rel=1e-5)
