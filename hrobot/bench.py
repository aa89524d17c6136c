"""`hrobot bench ...`: benchmarks that measure side by side in one process and report ratios."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from hrobot.errors import HRobotError

from hrobot.robots import load_robot
from hrobot.train import HRobotRunner, hardware, make_env_and_cfg

WALK_TASKS = {"quadruped": "go2_walk", "humanoid": "g1_walk"}


def walk_task(robot: str) -> str:
    """The velocity task a robot of this class is benchmarked (and by default trained) on."""
    spec = load_robot(robot)
    if spec.robot_class not in WALK_TASKS:
        raise HRobotError(f"robot {spec.name} is a {spec.robot_class}: the simulation bench runs legged robots")
    return WALK_TASKS[spec.robot_class]


def _rss_mb() -> float:
    """Resident memory of this process (MB), from /proc (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise HRobotError("cannot read this process's memory use (/proc/self/status)")


def env_memory(robot: str, num_envs: int) -> dict:
    """Build the training env of `robot` with `num_envs` envs in this process; what it costs."""
    from hrobot.sim.model import build_sim_model
    from hrobot.sim.scene import SceneConfig

    spec = load_robot(robot)
    mod, cfg, _ = make_env_and_cfg(walk_task(robot), num_envs, None, None, robot)
    rss0, t0 = _rss_mb(), time.perf_counter()
    env = mod.make_env(cfg, seed=0)
    build_s, env_mb = time.perf_counter() - t0, _rss_mb() - rss0
    vendor = build_sim_model(spec, SceneConfig(visual=True)).model.nbuffer / 1e6
    return {"robot": spec.name, "num_envs": num_envs, "build_s": build_s, "env_memory_mb": env_mb,
            "memory_mb_per_env": env_mb / num_envs, "model_copy_mb": env.sm.model.nbuffer / 1e6,
            "full_model_mb": vendor, "full_copies_would_need_mb": vendor * num_envs}


def bench_memory(robots: list[str], num_envs: int = 1024) -> dict:
    """Memory per env of each robot's training env, each built in a fresh interpreter, in one run."""
    import json
    import subprocess
    import sys

    out = {"num_envs": num_envs, "robots": [], "hardware": hardware(),
           "total_memory_mb": int(Path("/proc/meminfo").read_text().split()[1]) / 1024}
    code = "import json, sys; from hrobot.bench import env_memory; print(json.dumps(env_memory(sys.argv[1], int(sys.argv[2]))))"
    for r in robots:
        res = subprocess.run([sys.executable, "-c", code, r, str(num_envs)], capture_output=True, text=True)
        if res.returncode != 0:
            last = (res.stderr.strip().splitlines() or ["no output"])[-1]
            raise HRobotError(f"bench memory: building {num_envs} envs of {r} failed: {last}")
        out["robots"].append(json.loads(res.stdout.strip().splitlines()[-1]))
    base = out["robots"][0]["memory_mb_per_env"]
    for r in out["robots"]:
        r["ratio_to_first"] = r["memory_mb_per_env"] / base
    return out


def _sync(env) -> None:
    if env.sim.qpos.is_cuda:
        torch.cuda.synchronize()


def bench_sim(robot: str = "go2", num_envs: int = 1024, backend: str = "mujoco", steps: int = 50,
              train_iterations: int = 3, nthread: int | None = None, seed: int = 0) -> dict:
    """Three numbers on the same model, threads and N, in one run.

    - bare_physics_steps_per_s: the backend stepping the same N per-env models through the
      same joint targets from the same start state, with nothing else (the physical limit);
    - env_physics_steps_per_s: physics steps inside the training env (observations, rewards,
      terminations, resets, domain randomisation), driven by random actions;
    - train_samples_per_s: env + PPO (rsl_rl OnPolicyRunner iterations, collection and update), with
      ratio_train_to_env (over the env's policy steps/s) and train_update_share (the PPO update's share).
    """
    mod, cfg, _ = make_env_and_cfg(walk_task(robot), num_envs, None, None, robot)
    rss0 = _rss_mb()
    env = mod.make_env(cfg, backend=backend, nthread=nthread, seed=seed)
    env_mb = _rss_mb() - rss0
    gen = torch.Generator().manual_seed(seed)
    act = lambda: (0.5 * torch.randn(num_envs, env.num_actions, generator=gen)).to(env.device)  # noqa: E731
    for _ in range(5):  # warm up (and, for warp, compile)
        env.step(act())
    _sync(env)

    # Two rounds, each an env pass then a bare replay of exactly that pass (same start state, same
    # targets), so both see the same background load on a noisy machine.
    env_time = bare_time = 0.0
    for _ in range(2):
        start_state = env.sim.get_state()
        targets = []
        t0 = time.perf_counter()
        for _ in range(steps // 2):
            env.step(act())
            targets.append(env.targets.clone())
        _sync(env)
        env_time += time.perf_counter() - t0
        end_state = env.sim.get_state()
        env.sim.set_state(start_state)
        t0 = time.perf_counter()
        for tgt in targets:
            env.sim.bare_step(tgt)
        _sync(env)
        bare_time += time.perf_counter() - t0
        env.sim.set_state(end_state)
    steps = 2 * (steps // 2)

    physics_steps = steps * num_envs * env.robot.decimation
    train_cfg = mod.train_cfg()
    runner = HRobotRunner(env, train_cfg, log_dir=None, device=str(env.device))
    update = runner._update
    update_time = [0.0]

    def timed_update() -> dict:  # the PPO update's share of the iteration (the rest: collection)
        t = time.perf_counter()
        out = update()
        _sync(env)
        update_time[0] += time.perf_counter() - t
        return out

    runner._update = timed_update
    t0 = time.perf_counter()
    runner.learn(train_iterations)
    _sync(env)
    train_time = time.perf_counter() - t0
    samples = train_iterations * train_cfg["num_steps_per_env"] * num_envs

    bare = physics_steps / bare_time
    env_sps = physics_steps / env_time
    return {
        "robot": env.robot.name,
        "memory_mb_per_env": env_mb / num_envs,
        "backend": backend,
        "num_envs": num_envs,
        "threads": getattr(env.sim, "nthread", None),
        "decimation": env.robot.decimation,
        "steps": steps,
        "bare_physics_steps_per_s": bare,
        "env_physics_steps_per_s": env_sps,
        "env_policy_steps_per_s": env_sps / env.robot.decimation,
        "train_samples_per_s": samples / train_time,
        "train_update_share": update_time[0] / train_time,  # of the training time: the PPO update
        "ratio_env_to_bare": env_sps / bare,
        "ratio_train_to_env": samples / train_time / (env_sps / env.robot.decimation),
        "hardware": hardware(),
        "device": str(env.device),
    }


def bench_train(task: str = "go2_walk", num_envs: int = 1024, iterations: int = 8, processes: int = 2,
                rounds: int = 2, device: str = "cpu", folder: Path | None = None) -> dict:
    """`hrobot train` in one process and under torchrun in `processes` processes (the same total env count),
    alternated for `rounds` rounds in one run; samples/s is each run's median over its iterations after the
    first two (start-up and the first update excluded). On one CPU machine the processes share its cores, so the
    ratio shows what synchronising costs, not a speed-up; with one GPU per process it is the scaling."""
    import statistics
    import subprocess
    import sys
    import tempfile

    folder = Path(folder or tempfile.mkdtemp(prefix="hrobot-bench-train-"))
    hrobot = [sys.executable, "-m", "hrobot.cli", "train", task, "--num-envs", str(num_envs), "--iterations",
              str(iterations), "--device", device] + (["--backend", "warp"] if device == "cuda" else [])
    launch = {1: hrobot, processes: [sys.executable, "-m", "torch.distributed.run", "--standalone",
                                     "--nproc-per-node", str(processes), "--no-python", *hrobot, "--distributed"]}
    samples: dict[int, list[float]] = {1: [], processes: []}
    for r in range(rounds):
        for n, cmd in launch.items():
            out = folder / f"round{r}_{n}proc"
            p = subprocess.run([*cmd, "--out", str(out)], capture_output=True, text=True)
            if p.returncode != 0:
                raise HRobotError(f"bench train: {n} process(es) failed: {(p.stderr or p.stdout).strip()[-300:]}")
            rows = [json.loads(line) for line in (out / "progress.jsonl").read_text().splitlines()]
            samples[n].append(statistics.median(row["steps_per_s"] for row in rows[2:] or rows))
    one, many = statistics.median(samples[1]), statistics.median(samples[processes])
    return {
        "task": task,
        "num_envs": num_envs,
        "iterations": iterations,
        "rounds": rounds,
        "device": device,
        "processes": processes,
        "samples_per_s_1_process": one,
        f"samples_per_s_{processes}_processes": many,
        "ratio": many / one,
        "per_round": {str(n): v for n, v in samples.items()},
        "hardware": hardware(),
        "note": ("processes share this machine's cores: the ratio is the cost of synchronisation"
                 if device == "cpu" else "one GPU per process"),
    }


def bench_runtime(bundle_path, iterations: int = 5000, warmup: int = 500, seed: int = 0) -> dict:
    """Latency of the deployment path on this machine, one robot, and of each of its parts:

    - step_us: the full control step of the control loop, measured state -> controller (command filter,
      observation, policy, joint targets) -> the robot's safety path -> the command handed to the robot (the
      write to the simulator is outside the timing);
    - inside that step: observation_us (the shared layout), inference_us (onnxruntime, 1 intra-op and 1
      inter-op thread), safety_us (the robot's safety filter) and other_us (the rest: command filter, targets,
      state machine, command packing);
    - inference_warm_us: the inference alone again right after, on the same input, with its caches warm (the
      step's inference follows the simulator's step and the observation, as on a robot it follows the driver).
    States come from a simulated robot stepped between samples (outside the timing).
    """
    import numpy as np

    from hrobot.bundle import load_bundle
    from hrobot.runtime import Controller, PolicyRuntime
    from hrobot.sim.robot import SimRobot

    b = load_bundle(bundle_path)
    rt = PolicyRuntime(b)
    ctrl = Controller(rt)
    robot = SimRobot(b.robot)
    robot.activate()
    ctrl.run_policy()
    command = np.zeros(len(b.meta["command"]["names"]))
    inside = {"observation": 0, "inference": 0, "safety": 0}

    def timed(fn, part):  # the part's time inside the step (a wrapper's call costs the step well under 1 us)
        def wrapper(*args):
            t0 = time.perf_counter_ns()
            out = fn(*args)
            inside[part] += time.perf_counter_ns() - t0
            return out
        return wrapper

    rt.observation, step_policy = timed(rt.observation, "observation"), b.step
    b.step, safety_filter = timed(step_policy, "inference"), timed(robot.filter, "safety")
    rows = []
    for i in range(warmup + iterations):
        state = robot.read_state()
        hidden = rt.state
        inside.update(observation=0, inference=0, safety=0)
        t0 = time.perf_counter_ns()
        safe = safety_filter(ctrl.step(state, command, robot.now()), state)  # what ControlLoop.step computes
        t1 = time.perf_counter_ns()
        step_policy(rt.last_obs, hidden)  # the inference alone, again on the same input (result unused)
        t2 = time.perf_counter_ns()
        robot._write(safe)
        robot.advance()
        if i >= warmup:
            part = (inside["observation"], inside["inference"], inside["safety"])
            rows.append((t1 - t0, *part, t1 - t0 - sum(part), t2 - t1))
    us = np.asarray(rows, dtype=np.float64) / 1e3
    out = {"bundle": str(bundle_path), "iterations": iterations}
    for k, name in enumerate(("step", "observation", "inference", "safety", "other", "inference_warm")):
        out[f"{name}_us_p50"], out[f"{name}_us_p99"] = (float(np.percentile(us[:, k], q)) for q in (50, 99))
    out["step_to_inference_p99"] = out["step_us_p99"] / out["inference_us_p99"]
    out["step_to_inference_warm_p99"] = out["step_us_p99"] / out["inference_warm_us_p99"]
    out["hardware"] = hardware()
    return out


def bench_ros(seconds: float = 60.0, bringup=None) -> dict:
    """The sim bringup (all nodes, real processes, Fast DDS) for `seconds`; the nodes' own measurements:

    - controller_period_jitter_us_p50/p99 and deadline_misses of skill_controller's 50 Hz control step;
    - driver_rate_hz: achieved physics / state rate of robot_driver;
    - state_to_command_latency_us_p50/p99: from robot_driver publishing a state to robot_driver receiving the
      command skill_controller computed from it (two process hops and the control step);
    - bare_pair_latency_us_p50/p99, the reference: a bare rclpy publisher -> subscriber pair (hrobot_ros.
      latency_pair: two processes, one hop, no hrobot code) running beside the bringup, same run, same load.
    """
    import subprocess
    import sys
    import tempfile

    import yaml

    from hrobot.deploy import REPO, launch, ros_env

    bringup = Path(bringup or REPO / "deploy" / "go2" / "sim.yaml")
    cfg = yaml.safe_load(bringup.read_text())
    with tempfile.TemporaryDirectory(prefix="hrobot-bench-ros-") as tmp:
        cfg["root"] = str((bringup.parent / cfg.get("root", ".")).resolve())
        cfg["nodes"]["robot_driver"]["stats_file"] = f"{tmp}/robot_driver.json"
        cfg["nodes"]["skill_controller"]["stats_file"] = f"{tmp}/skill_controller.json"
        f = Path(tmp) / "bringup.yaml"
        f.write_text(yaml.safe_dump(cfg))
        pair = [subprocess.Popen([sys.executable, "-m", "hrobot_ros.latency_pair", role, str(seconds + extra), "50",
                                  f"{tmp}/pair.json"], env=ros_env(), stdout=subprocess.DEVNULL)
                for role, extra in (("sub", 3.0), ("pub", 1.0))]
        code = launch(f, duration=seconds, log=lambda *a: None)
        for p in pair:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        files = [Path(f"{tmp}/{name}.json") for name in ("robot_driver", "skill_controller", "pair")]
        missing = [x.stem for x in files if not x.is_file()]
        if missing:
            raise HRobotError(f"bench ros: no measurements from {', '.join(missing)} (launch exit code {code}; run "
                              f"`hrobot launch {bringup}` to see why)")
        sim, ctrl, got = (json.loads(x.read_text()) for x in files)
        bare = np.asarray(got["latency_us"][50:])  # after discovery
    if bare.size < 10:
        raise HRobotError(f"bench ros: the bare rclpy pair delivered {bare.size} messages (expected ~{50 * seconds:.0f})")
    pair_p50, pair_p99 = (float(np.percentile(bare, q)) for q in (50, 99))
    return {
        "bringup": str(bringup), "seconds": seconds, "launch_exit_code": code,
        "controller_rate_hz": ctrl["rate_hz"], "controller_iterations": ctrl["iterations"],
        "controller_period_jitter_us_p50": ctrl["period_jitter_us_p50"],
        "controller_period_jitter_us_p99": ctrl["period_jitter_us_p99"],
        "deadline_misses": ctrl["deadline_misses"],
        "driver_rate_hz": sim["driver_rate_hz"], "driver_deadline_misses": sim["loop"]["deadline_misses"],
        "state_to_command_latency_us_p50": sim["state_to_command_latency_us_p50"],
        "state_to_command_latency_us_p99": sim["state_to_command_latency_us_p99"],
        "bare_pair_latency_us_p50": pair_p50, "bare_pair_latency_us_p99": pair_p99, "bare_pair_messages": int(bare.size),
        "latency_to_bare_pair_p99": sim["state_to_command_latency_us_p99"] / pair_p99,
        "safety": {"robot_driver": sim["safety"], "skill_controller": ctrl["safety"]},
        "hardware": hardware(),
    }


def bench_hardware(seconds: float = 10.0) -> dict:
    """The drivers against their simulated devices, each for `seconds`, in one run:

    - leap_hand over the emulated Dynamixel bus (pty): sync-read rate of all 16 servos and the
      read transaction's latency, with the driver sending goal positions every read;
    - go2 over DDS against `hrobot device unitree` in its own process: the driver's 500 Hz loop rate,
      its period jitter p50 / p99 (measured period minus nominal), late periods, valid states received
      per second and CRC errors; latency through the device on the machine's one monotonic clock: a
      state's transit (device publish -> driver receive) and state-to-command (device publish -> the
      first command the driver publishes from it).
    """
    import json
    import shutil
    import subprocess
    import sys
    import tempfile

    import numpy as np

    from hrobot.hardware.dynamixel.leap import LeapConfig, LeapHand
    from hrobot.hardware.unitree.lowlevel import UnitreeConfig, UnitreeLowLevel
    from hrobot.safety import POSITION, SERVO, JointCommand
    from hrobot.sim.devices.dynamixel_bus import DynamixelBus

    out: dict = {"seconds": seconds, "hardware": hardware()}
    hand_spec = load_robot("leap_hand")
    n = hand_spec.num_joints
    with tempfile.TemporaryDirectory() as tmp:
        bus = DynamixelBus(hand_spec, Path(tmp) / "tty").start()
        hand = LeapHand(hand_spec, LeapConfig(port=str(bus.port)))
        hand.connect()
        hand.activate()
        lat, t0 = [], time.monotonic()
        hold = JointCommand(hand_spec.default_pose, np.zeros(n), hand_spec.kp, hand_spec.kd, np.zeros(n), SERVO)
        while time.monotonic() - t0 < seconds:
            t = time.perf_counter()
            state = hand.read_state()
            lat.append(time.perf_counter() - t)
            hand.send(hold, state)
        out["leap_hand"] = {"read_rate_hz": hand.stats.read_rate_hz(hand.now()), "reads": hand.stats.reads,
                            "failed_reads": hand.stats.failed_reads,
                            "read_latency_us_p50": float(np.percentile(lat, 50) * 1e6),
                            "read_latency_us_p99": float(np.percentile(lat, 99) * 1e6)}
        hand.disconnect()
        bus.close()
    go2 = load_robot("go2")
    domain = 200 + os.getpid() % 30
    tick_log = Path(tempfile.mkdtemp(prefix="hrobot-ticks-")) / "ticks.json"
    dev = subprocess.Popen([sys.executable, "-m", "hrobot.cli", "device", "unitree", "--robot", "go2", "--domain",
                            str(domain), "--duration", str(seconds + 8.0), "--tick-log", str(tick_log)],
                           stdout=subprocess.PIPE, text=True)
    try:
        dev.stdout.readline()
        drv = UnitreeLowLevel(go2, UnitreeConfig(domain=domain))
        drv.connect()
        drv.activate()
        m = go2.num_joints
        stand = JointCommand(go2.default_pose, np.zeros(m), go2.kp, go2.kd, np.zeros(m), POSITION)
        time.sleep(0.5)
        drv.stats.period_s.clear()
        states0, t0 = drv.stats.states, time.monotonic()
        while time.monotonic() - t0 < seconds:
            drv.send(stand, drv.read_state())
            time.sleep(0.02)
        elapsed = time.monotonic() - t0
        periods = np.asarray(drv.stats.period_s)
        jitter = np.abs(periods - 1.0 / drv.cfg.rate_hz)
        out["go2_dds"] = {"loop_rate_hz": len(periods) / periods.sum(), "period_jitter_us_p50": float(np.percentile(jitter, 50) * 1e6),
                          "period_jitter_us_p99": float(np.percentile(jitter, 99) * 1e6),
                          "late_periods": drv.stats.late_periods, "states_per_s": (drv.stats.states - states0) / elapsed,
                          "crc_errors": drv.stats.crc_errors, "safety": drv.safety.reason or "ok"}
        received, sent = list(drv.stats.received), list(drv.stats.sent)
        drv.disconnect()
        dev.wait(timeout=seconds + 30.0)  # its --duration ends it; then its tick log is written
    finally:
        if dev.poll() is None:
            dev.kill()
            dev.wait()
    published = dict(json.loads(tick_log.read_text())) if tick_log.is_file() else {}
    shutil.rmtree(tick_log.parent, ignore_errors=True)
    t_recv = {tick: t - published[tick] for tick, t in received if tick in published}
    first_cmd: dict[int, float] = {}
    for tick, t in sent:
        if tick in published and tick not in first_cmd:
            first_cmd[tick] = t - published[tick]
    transit, to_cmd = np.array(list(t_recv.values())) * 1e6, np.array(list(first_cmd.values())) * 1e6
    out["go2_dds"].update({  # one machine, one monotonic clock: the device's publish times against the driver's
        "state_transit_us_p50": float(np.percentile(transit, 50)), "state_transit_us_p99": float(np.percentile(transit, 99)),
        "state_to_command_us_p50": float(np.percentile(to_cmd, 50)), "state_to_command_us_p99": float(np.percentile(to_cmd, 99)),
        "states_answered": len(first_cmd)})
    return out


def device_bringup(bringup: Path, folder: Path, **driver) -> Path:
    """A copy of a hardware bringup under `device: simulated`, its DDS domain apart from ROS's (201-230), the
    driver's parameters updated by `driver` (e.g. stats_file)."""
    import yaml

    cfg = yaml.safe_load(bringup.read_text())
    cfg["root"] = str((bringup.parent / cfg.get("root", ".")).resolve())
    cfg["device"] = "simulated"
    if cfg["nodes"]["robot_driver"]["interface"].startswith("unitree"):
        cfg["nodes"]["robot_driver"]["domain"] = float(201 + (os.getpid() + time.monotonic_ns()) % 30)
    cfg["nodes"]["robot_driver"].update(driver)
    f = folder / f"{bringup.stem}_simulated_device.yaml"
    f.write_text(yaml.safe_dump(cfg))
    return f


def sample_goals(obstacles: np.ndarray, start: tuple, n: int, seed: int, half: float = 3.2,
                 clearance: float = 0.5) -> list[tuple[float, float, float]]:
    """n goals (x, y, yaw) in the arena, 1.5-3.5 m from the start, `clearance` m clear of every box."""
    from hrobot.world import OBSTACLE_SIZES

    rng = np.random.default_rng(seed)
    boxes = [(x, y, *OBSTACLE_SIZES[i % len(OBSTACLE_SIZES)][:2]) for i, (x, y) in enumerate(obstacles.reshape(-1, 2))]
    goals = []
    while len(goals) < n:
        g = rng.uniform(-half, half, 2)
        if not 1.5 <= np.linalg.norm(g - np.array(start[:2])) <= 3.5:
            continue
        if any(abs(g[0] - x) < hx + clearance and abs(g[1] - y) < hy + clearance for x, y, hx, hy in boxes):
            continue
        goals.append((float(g[0]), float(g[1]), float(rng.uniform(-np.pi, np.pi))))
    return goals


def bench_goals(n: int = 20, seed: int = 0, logs: Path | None = None) -> dict:
    """The Go2 hierarchy (go2_nav over go2_walk) on the same n goals through two bringups, in one run:

    - sim: deploy/go2/sim.yaml, the simulator behind robot_driver (ground-truth odometry);
    - dds_device: deploy/go2/real.yaml under `device: simulated`, the Unitree driver over CycloneDDS to the
      simulated Go2 (same arena and start), odometry from the base estimator (IMU + leg kinematics).
    Each goal is one episode: a fresh launch, the robot standing up at the start, one goal (a fall ends only
    its own episode). Success rate, mean time to goal; goals are in the world, sent in each bringup's
    odometry frame. Each episode's launch log goes to `logs` (default: a temporary folder); the safety trips
    it records are in the results.
    """
    import tempfile

    import yaml
    from rich.console import Console

    from hrobot.demo import run_goals
    from hrobot.deploy import REPO

    sim_file, real_file = REPO / "deploy" / "go2" / "sim.yaml", REPO / "deploy" / "go2" / "real.yaml"
    sim_cfg = yaml.safe_load(sim_file.read_text())["nodes"]["robot_driver"]
    world = yaml.safe_load(real_file.read_text())["simulation"]
    if world["start"] != sim_cfg["start"] or world["obstacles"] != sim_cfg["obstacles"]:
        raise HRobotError(f"{real_file}: its simulation world differs from {sim_file}'s: not the same goals")
    goals = sample_goals(np.array(sim_cfg["obstacles"]), tuple(sim_cfg["start"]), n, seed)
    out: dict = {"goals": goals, "seed": seed, "hardware": hardware()}
    console = Console(stderr=True)
    with tempfile.TemporaryDirectory(prefix="hrobot-bench-goals-") as tmp:
        folder = Path(logs or tmp)
        runs = {"sim": (sim_file, False, (0.0, 0.0, 0.0)),
                "dds_device": (device_bringup(real_file, Path(tmp)), True, tuple(world["start"]))}
        for name, (bringup, stand, origin) in runs.items():
            results = []
            for i, g in enumerate(goals):
                r = run_goals(bringup, [g], console, folder / name / str(i), stand=stand, origin=origin)[0][0]
                log = (folder / name / str(i) / "launch.log").read_text()
                r["trips"] = [ln.split("]: ", 1)[-1] for ln in log.splitlines() if "safety tripped" in ln]
                results.append(r)
            reached = [r for r in results if r["result"] == "reached"]
            out[name] = {"bringup": str(bringup), "success_rate": len(reached) / n,
                         "mean_time_s": float(np.mean([r["time_s"] for r in reached])) if reached else None,
                         "results": [{k: r[k] for k in ("goal", "result", "time_s", "distance", "trips")}
                                     for r in results]}
    out["success_difference_points"] = 100 * (out["sim"]["success_rate"] - out["dds_device"]["success_rate"])
    return out


def bench_hand_goals(n: int = 10, seed: int = 0, logs: Path | None = None, goals: list | None = None,
                     sim_file: Path | None = None, driver: dict | None = None) -> dict:
    """The hand's hierarchy (reorient_planner over the rotation skill, as deploy/leap_hand/sim.yaml names them) on
    the same n goal orientations (uniform, seeded) through two bringups, in one run:

    - sim: the simulated hand behind robot_driver, the cube's pose from the simulator;
    - dynamixel_device: deploy/leap_hand/real.yaml under `device: simulated` with the same skill and planner: the
      Dynamixel driver over the emulated bus (a pty), the cube's pose from the emulated tracker (`driver`: its
      robot_driver parameters changed).
    Each goal is one episode (a fresh launch); reached = within the planner's success angle for its hold time.
    """
    import tempfile

    import yaml
    from rich.console import Console

    from hrobot.demo import _drive_hand, run_goals
    from hrobot.deploy import REPO
    from hrobot.reorient_io import random_quat

    sim_file = sim_file or REPO / "deploy" / "leap_hand" / "sim.yaml"
    real_file = REPO / "deploy" / "leap_hand" / "real.yaml"
    nodes = yaml.safe_load(Path(sim_file).read_text())["nodes"]
    if "reorient_planner" not in nodes or "skill_controller" not in nodes:
        raise HRobotError(f"{sim_file}: names no skill_controller and reorient_planner (no hand policy ships yet)")
    if goals is None:
        goals = random_quat(np.random.default_rng(seed).random((n, 3))).tolist()
    out: dict = {"goals": goals, "seed": seed, "hardware": hardware()}
    console = Console(stderr=True)
    with tempfile.TemporaryDirectory(prefix="hrobot-bench-hand-") as tmp:
        folder = Path(logs or tmp)
        real = device_bringup(real_file, Path(tmp), port=str(Path(tmp) / "ttyLEAP"), **(driver or {}))
        cfg = yaml.safe_load(real.read_text())
        root = (Path(sim_file).parent / yaml.safe_load(Path(sim_file).read_text()).get("root", ".")).resolve()
        for name in ("skill_controller", "reorient_planner"):  # the same bundles, resolved against sim.yaml's root
            cfg["nodes"][name] = {**nodes[name], "bundle": str((root / nodes[name]["bundle"]).resolve())}
        real.write_text(yaml.safe_dump(cfg))
        for name, bringup in (("sim", Path(sim_file)), ("dynamixel_device", real)):
            results = []
            for i, g in enumerate(goals):
                where = folder / name / str(i)
                r = run_goals(bringup, [g], console, where,
                              drive=lambda d, launcher, g=g: _drive_hand([g], d, launcher, console))[0][0]
                log = (where / "launch.log").read_text()
                r["trips"] = [ln.split("]: ", 1)[-1] for ln in log.splitlines() if "safety tripped" in ln]
                results.append(r)
            reached = [r for r in results if r["result"] == "reached"]
            out[name] = {"bringup": str(bringup), "success_rate": len(reached) / len(goals),
                         "mean_time_s": float(np.mean([r["time_s"] for r in reached])) if reached else None,
                         "results": [{k: r[k] for k in ("goal", "result", "time_s", "error_rad", "trips")}
                                     for r in results]}
    out["success_difference_points"] = 100 * (out["sim"]["success_rate"] - out["dynamixel_device"]["success_rate"])
    return out


LOAD_PUBLISHER = r"""
import json, sys, time, rclpy
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Imu, JointState
rate, seconds = float(sys.argv[1]), float(sys.argv[2])
rclpy.init()
node = Node("load_publisher")
qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)  # as robot_driver publishes its state
pubs = [node.create_publisher(JointState, "/joint_states", qos), node.create_publisher(Imu, "/imu", qos)]
msgs = [JointState(name=[f"joint_{i}" for i in range(12)], position=[0.1] * 12, velocity=[0.0] * 12, effort=[0.0] * 12),
        Imu()]
while sum(p.get_subscription_count() for p in pubs) < 2:  # the recorder has subscribed to both
    time.sleep(0.05)
time.sleep(0.5)
t0, k = time.monotonic(), 0
js = msgs[0]
while time.monotonic() - t0 < seconds:
    if k % 2 == 0:  # changing values, as a robot's state changes (what the chunks' compression sees)
        js.position = [(k * 0.618 + i) % 3.1 for i in range(12)]
    pubs[k % 2].publish(msgs[k % 2])
    k += 1
    wait = t0 + k / rate - time.monotonic()
    if wait > 0:
        time.sleep(wait)
print(json.dumps({"sent": k, "seconds": time.monotonic() - t0}))
"""


def bench_record(rates: list[float], seconds: float = 10.0, folder: Path | None = None) -> dict:
    """`hrobot record` against a publisher of 12-joint JointState + Imu (half each) at each total rate, one
    after the other in this run: messages/s sustained with 0 drops, write bandwidth, the recorder's CPU."""
    import json
    import subprocess
    import sys
    import tempfile

    from hrobot.deploy import ros_env

    work = Path(folder or tempfile.mkdtemp(prefix="hrobot-bench-record-"))
    env = dict(ros_env(), ROS_DOMAIN_ID=str(100 + os.getpid() % 90), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    runs = []
    for rate in rates:
        bag, stats = work / f"bag_{int(rate)}", work / f"recorder_{int(rate)}.json"
        rec = subprocess.Popen([sys.executable, "-m", "hrobot.cli", "record", "--out", str(bag), "--topics",
                                "/joint_states", "/imu", "--stats", str(stats)], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        pub = subprocess.run([sys.executable, "-c", LOAD_PUBLISHER, str(rate), str(seconds)], env=env,
                             capture_output=True, text=True, timeout=seconds + 60)
        time.sleep(0.5)  # the last messages in flight
        rec.send_signal(2)
        rec.wait(30)
        if pub.returncode != 0 or not stats.is_file():
            raise HRobotError(f"bench record at {rate:g} msg/s failed: {pub.stderr.strip()[-300:]}")
        sent, got = json.loads(pub.stdout.strip().splitlines()[-1]), json.loads(stats.read_text())
        runs.append({"rate_msgs_per_s": rate, "sent": sent["sent"], "recorded": got["written"],
                     "dropped_by_sequence": got["dropped"], "lost": sent["sent"] - got["written"],
                     "achieved_msgs_per_s": sent["sent"] / sent["seconds"],
                     "write_mb_per_s": got["file_bytes"] / 1e6 / sent["seconds"],
                     "payload_mb_per_s": got["write_bytes_per_s"] / 1e6, "recorder_cpu_cores": got["cpu_fraction"],
                     "recorder_max_rss_mb": got["max_rss_mb"], "max_writer_queue": got["max_pending"]})
    clean = [r for r in runs if r["lost"] == 0 and r["dropped_by_sequence"] == 0]
    return {"seconds_per_rate": seconds, "runs": runs, "hardware": hardware(),
            "sustained_msgs_per_s_with_0_drops": max((r["achieved_msgs_per_s"] for r in clean), default=0.0),
            "note": "one publisher process and the recorder on this machine; the recorder's CPU is process time / "
                    "wall time (1.0 = one core); write MB/s is the zstd-compressed bag"}
