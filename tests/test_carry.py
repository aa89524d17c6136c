"""Carrying a board with a simulated partner (G1): the grip and the wrist sensors, the partner's pull, the same
paths for every controller, the follower metrics, and a short g1_carry run evaluated beside its baselines."""

from __future__ import annotations

import json
import math

import pytest
import torch

from hrobot.cli import main
from hrobot.eval import _carry_metrics
from hrobot.skills import load_skill
from hrobot.tasks.carry.env import CarryCfg, CarryEnv, PartnerCfg, admittance


@pytest.fixture(scope="module")
def skill():
    return load_skill("policies/g1_walk")


def _env(skill, n: int = 4, **partner) -> CarryEnv:
    cfg = CarryCfg(num_envs=n, load_mass=(2.0, 2.0), partner=PartnerCfg(**partner))
    return CarryEnv(cfg, seed=1, eval_mode=True, skills=[skill])


def test_the_wrist_sensors_carry_what_the_partner_does_not(skill):
    """Standing, the board is at rest: its weight is the partner's arm's pull plus what the two wrist sensors feel."""
    env = _env(skill, speed=(0.0, 0.0))  # the partner stands, holding the far end
    robot, partner, ended = [], [], torch.zeros(env.num_envs, dtype=torch.bool)
    with torch.inference_mode():
        for k in range(20):
            env.step_commands(torch.zeros(env.num_envs, 3))
            ended |= env.last_outcome["dones"]
            if k >= 10:
                robot.append(env.wrench()[0])
                grip = env.ll.mocap_pos[:, env.partner_mocap]
                partner.append(env.cfg.partner.stiffness * (grip - env.handle()))
    assert not ended.any()
    f, p = torch.stack(robot).mean(0), torch.stack(partner).mean(0)  # the board's force on the robot (heading frame)
    assert f[:, 2] == pytest.approx(p[:, 2] - 2.0 * 9.81, abs=2.0)  # 2 kg
    assert (f[:, :2].norm(dim=1) < 5.0).all()


def test_a_partner_walking_ahead_pulls_the_robot_forward_and_admittance_follows(skill):
    stand = _env(skill, speed=(0.4, 0.4), turn_rate=(0.0, 0.0), walk_s=(10.0, 10.0))
    follow = _env(skill, speed=(0.4, 0.4), turn_rate=(0.0, 0.0), walk_s=(10.0, 10.0))
    start = follow.ll.base_pos[:, :2].clone()
    heading = follow.heading.clone()
    pulls = []
    with torch.inference_mode():
        for k in range(30):  # 3 s
            stand.step_commands(torch.zeros(stand.num_envs, 3))
            follow.step_commands(admittance(follow, 0.01, 0.0))
            if 3 <= k < 12:  # walking off (later the robot, dragged along, swings about the partner's arm)
                pulls.append(stand.wrench()[0])
    pull = torch.stack(pulls).mean(0)
    assert (pull[:, 0] > 5.0).all() and (pull[:, 0] > pull[:, 1].abs()).all()  # forward, along the board
    moved = follow.ll.base_pos[:, :2] - start
    along = moved[:, 0] * torch.cos(heading) + moved[:, 1] * torch.sin(heading)
    assert (along > 0.4).all()  # the partner walked ~1 m in 3 s (1 s ramp)
    assert not (stand.last_outcome["dropped"] | follow.last_outcome["dropped"]).any()


def test_every_controller_walks_the_same_paths_with_the_same_boards(skill):
    cfg = CarryCfg(num_envs=3)  # the task's board masses: drawn per episode
    env = CarryEnv(cfg, seed=7, eval_mode=True, skills=[skill])

    def draw():
        env.gen.manual_seed(env.seed)
        env.reset_all()
        return [t.clone() for t in (env.turn_plan, env.segment_ends, env.speed, env.walk_s, env.load_mass, env.target)]

    with torch.inference_mode():
        first = draw()
        for _ in range(5):
            env.step_commands(admittance(env, 0.02, 0.1))
        again = draw()
    for a, b in zip(first, again):
        assert torch.equal(a, b)
    assert len(set(first[4].tolist())) == 3 and all(0.2 <= m <= 3.0 for m in first[4].tolist())


def test_follower_metrics_on_known_trajectories():
    dt, steps = 0.1, 100
    t = torch.arange(steps) * dt
    target = torch.stack([0.5 * t + 1.0, torch.zeros(steps)], 1)[None].repeat(2, 1, 1)
    vel = torch.tensor([0.5, 0.0]).expand(2, steps, 2).clone()
    base = target.clone() - torch.tensor([1.0, 0.0])
    base[1, :, 1] += 0.2  # the second robot walks 0.2 m beside the path
    speed = (0.5 * torch.sin(t))[None].repeat(2, 1)
    target_vel = torch.stack([speed, torch.zeros_like(speed)], 2)
    vel = target_vel.clone()
    vel[1, 5:] = target_vel[1, :-5]  # the second follows 0.5 s late
    force = torch.full((2, steps), 10.0)
    force[:, 80:] = 2.0
    walking = (t < 7.0)[None].repeat(2, 1)
    r = {"alive": torch.ones(2, steps, dtype=torch.bool), "base": base, "vel": vel, "target": target,
         "target_vel": target_vel, "force": force, "stretch": torch.full((2, steps), 0.05), "walking": walking}
    none = torch.zeros(2, dtype=torch.bool)
    m = _carry_metrics({k: v[:1] for k, v in r.items()}, none[:1], none[:1], dt)
    assert m["trajectory_deviation_m"] == pytest.approx(0.0, abs=1e-5)
    assert m["velocity_correlation"] == pytest.approx(1.0, abs=1e-5) and m["velocity_lag_s"] == 0.0
    assert m["follower_force_mean_n"] == pytest.approx(8.4) and m["follower_force_peak_n"] == 10.0
    assert m["completion_rate"] == 1.0 and m["completion_time_s"] == pytest.approx(8.1)  # first settled step, 1-based
    late = _carry_metrics({k: v[1:] for k, v in r.items()}, none[:1], none[:1], dt)
    assert late["trajectory_deviation_m"] == pytest.approx(0.2, abs=1e-4)
    assert late["velocity_lag_s"] == pytest.approx(0.5)
    fell = _carry_metrics({k: v[1:] for k, v in r.items()}, torch.ones(1, dtype=torch.bool), none[:1], dt)
    assert fell["fall_rate"] == 1.0 and fell["completion_rate"] == 0.0 and math.isnan(fell["completion_time_s"])


def test_g1_carry_trains_evaluates_beside_its_baselines_and_is_not_exported_yet(tmp_path, capsys):
    from hrobot.train import train

    run = tmp_path / "g1_carry"
    info = train("g1_carry", run, num_envs=4, iterations=1, seed=0)
    assert info["kind"] == "carry"
    out = tmp_path / "carry.json"
    assert main(["eval", str(run), "--episodes", "2", "--episode-s", "3", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert set(res) >= {"high_level", "admittance", "stand_still", "admittance_tuning"}
    for name in ("high_level", "admittance", "stand_still"):
        r = res[name]
        assert r["episodes"] == 2 and r["follower_force_mean_n"] > 0.0 and 0.0 <= r["fall_rate"] <= 1.0
        assert r["completion_rate"] == 0.0  # 3 s: every partner still walks
    assert len(res["admittance_tuning"]["grid"]) == 9
    capsys.readouterr()
    assert main(["export", str(run), "--out", str(tmp_path / "bundle")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not exportable yet" in err[0]


def test_a_new_board_mass_rescales_the_grips_constraints(skill):
    """Masses changed per env must reach MuJoCo's derived constants (mj_setConst): with the compiled board's
    inverse weight the grip's welds were mis-scaled and boards of 0.2-0.5 or 2-3 kg diverged within seconds."""
    cfg = CarryCfg(num_envs=2, load_mass=(0.3, 0.3))
    env = CarryEnv(cfg, seed=0, eval_mode=True, skills=[skill])
    m = env.ll.sim.models[0]
    compiled = build_carry_model().body_invweight0[env.load_body]
    assert m.body_mass[env.load_body] == pytest.approx(0.3)
    assert m.body_invweight0[env.load_body][0] > 3.0 * compiled[0]  # 0.3 kg against the compiled 1.5 kg


def build_carry_model():
    from hrobot.robots import load_robot
    from hrobot.sim.model import build_sim_model
    from hrobot.sim.scene import SceneConfig

    return build_sim_model(load_robot("g1"), SceneConfig(kind="carry", visual=False)).model
