"""The legged base estimator (deploy layer) against MuJoCo's ground truth."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from hrobot.bundle import load_bundle
from hrobot.estimator import BaseEstimator, ChainKinematics, EstimatorConfig
from hrobot.robots import load_robot
from hrobot.runtime import ControlLoop, Controller, PolicyRuntime
from hrobot.sim.model import build_sim_model, chain_kinematics
from hrobot.sim.robot import SimConfig, SimRobot

from conftest import REPO


@pytest.mark.parametrize("name", ["go2", "g1", "meshbot"])
def test_foot_kinematics_match_mujoco(name, meshbot):
    robot = load_robot(str(meshbot) if name == "meshbot" else name)
    sm = build_sim_model(robot)
    m, d = sm.model, mujoco.MjData(sm.model)
    kin = ChainKinematics(chain_kinematics(sm))
    rng = np.random.default_rng(1)
    for _ in range(5):
        d.qpos[:] = sm.default_qpos()
        d.qpos[sm.qpos_adr] = np.clip(robot.default_pose + rng.normal(0, 0.4, robot.num_joints), robot.lower, robot.upper)
        quat = rng.normal(size=4)
        d.qpos[sm.base_qpos_adr + 3 : sm.base_qpos_adr + 7] = quat / np.linalg.norm(quat)
        mujoco.mj_kinematics(m, d)
        rot, base = d.xmat[sm.base_body].reshape(3, 3), d.xpos[sm.base_body]
        truth = [rot.T @ (d.site_xpos[mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SITE, f)] - base) for f in robot.feet]
        q = d.qpos[sm.qpos_adr].copy()
        np.testing.assert_allclose(kin.foot_positions(q), truth, atol=1e-9)
        dq, h = rng.normal(0, 2.0, robot.num_joints), 1e-6  # velocities and Jacobians: the positions' derivatives
        pos, vel = kin.foot_states(q, dq)
        np.testing.assert_allclose(pos, truth, atol=1e-9)
        np.testing.assert_allclose(vel, (kin.foot_positions(q + h * dq) - kin.foot_positions(q - h * dq)) / (2 * h),
                                   atol=1e-6)
        np.testing.assert_allclose(kin.jacobians(q)[1] @ dq, vel, atol=1e-9)


def test_estimator_tracks_a_20_m_walk_with_turns():
    """go2_walk through the deployment loop with sensor noise, the estimator fed only what a real Go2
    measures (IMU, encoders, foot contacts): drift <= 5 % of the distance, velocity error <= 0.1 m/s RMS."""
    b = load_bundle(REPO / "policies" / "go2_walk")
    robot = SimRobot(b.robot, config=SimConfig(joint_pos_noise=0.01, joint_vel_noise=0.5, gyro_noise=0.05,
                                               tilt_noise=0.02, seed=3))
    ctrl, cmd = Controller(PolicyRuntime(b)), np.zeros(3)
    loop = ControlLoop(robot, ctrl, lambda: cmd)
    robot.activate()
    ctrl.run_policy()
    est = BaseEstimator(ChainKinematics(chain_kinematics(robot.sm)), position=robot.base_pose()[0])
    dt, dist, last = robot.control_period, 0.0, robot.base_pose()[0][:2].copy()
    drift, vel_err, k = [], [], 0
    while dist < 20.0 and k < 3000:
        cmd[:] = [0.9, 0.0, 0.6 * np.sin(0.25 * k * dt)]  # left and right turns
        loop.step()
        robot.advance()
        s = robot.read_state()
        est.step(dt, s.base_quat, s.base_ang_vel, s.base_acc, s.joint_pos, s.joint_vel, s.foot_contact)
        p = robot.base_pose()[0]
        dist += float(np.linalg.norm(p[:2] - last))
        last = p[:2].copy()
        drift.append(float(np.linalg.norm(est.position[:2] - p[:2])))
        a = robot.sm.base_dof_adr
        if k > 50:
            vel_err.append(est.velocity[:2] - robot.data.qvel[a : a + 2])
        k += 1
    assert dist >= 20.0 and not robot.safety.tripped
    assert max(drift) <= 0.05 * dist, (max(drift), dist)
    assert float(np.sqrt(np.mean(np.square(vel_err)))) <= 0.1
    assert abs(est.position[2] - robot.base_pose()[0][2]) < 0.05  # base height above the foot centres


def test_odometry_of_a_fallen_robot_stays_put_despite_imu_bias():
    """A Go2 dropped on its back (a fall: no foot on the ground) and lying there 10 s, its accelerometer biased
    0.05 m/s^2 as a MEMS IMU's is. The IMU-only prediction keeps the fall's speed (the landing's impact falls
    between samples) and runs the odometry off linearly (11 m here); the zero-velocity rule (no foot down for
    longer than any flight phase) keeps it within 0.2 m of where the robot lies."""
    robot = SimRobot(load_robot("go2"))
    qpos = robot.sm.default_qpos()
    a = robot.sm.base_qpos_adr
    qpos[a + 2], qpos[a + 3 : a + 7] = 0.3, [0.0, 1.0, 0.0, 0.0]  # upside down
    robot.reset(qpos)
    kin = ChainKinematics(chain_kinematics(robot.sm))
    estimators = {"rule": BaseEstimator(kin, position=qpos[a : a + 3]),
                  "imu only": BaseEstimator(kin, position=qpos[a : a + 3], config=EstimatorConfig(no_contact_s=np.inf))}
    bias = np.array([0.05, 0.0, 0.0])
    for _ in range(int(10.0 / robot.control_period)):
        robot.advance()
        s = robot.read_state()
        assert not s.foot_contact.any()
        for est in estimators.values():
            est.step(robot.control_period, s.base_quat, s.base_ang_vel, s.base_acc + bias, s.joint_pos, s.joint_vel,
                     s.foot_contact)
    truth = robot.base_pose()[0]
    error = {k: float(np.linalg.norm(e.position - truth)) for k, e in estimators.items()}
    assert error["rule"] < 0.2 and error["imu only"] > 1.0, error
