"""The `hrobot` command line. Each subcommand is a thin wrapper over a library function."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

from hrobot.errors import HRobotError
from hrobot.world import SCENES

RECORD_RATES = [1000.0, 4000.0, 8000.0, 16000.0, 32000.0]  # bench record: total messages/s (a 500 Hz robot sends ~1200)

EXIT_ERROR = 2


def _console():
    from rich.console import Console

    return Console(soft_wrap=True)


def _write_json(path: str | None, data: dict) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


# ---------------------------------------------------------------- robots


def cmd_robots_list(args: argparse.Namespace) -> int:
    from rich.table import Table

    from hrobot.robots import load_robot, robot_names

    t = Table(title="built-in robots")
    for col in ("name", "class", "joints", "policy / PD rate", "description"):
        t.add_column(col)
    for name in robot_names():
        r = load_robot(name)
        t.add_row(name, r.robot_class, str(r.num_joints), f"{r.policy_rate_hz:g} / {r.pd_rate_hz:g} Hz", r.description)
    _console().print(t)
    _console().print("Any other robot: pass the path of a spec YAML (see README, 'Bring your own robot').")
    return 0


def cmd_robots_show(args: argparse.Namespace) -> int:
    from rich.table import Table

    from hrobot.robots import load_robot

    r = load_robot(args.robot)
    if args.json:
        print(json.dumps(r.to_dict(), indent=2))
        return 0
    c = _console()
    c.print(f"[bold]{r.name}[/bold] ({r.robot_class}) - {r.description}")
    c.print(f"model: {r.model}   base body: {r.base_body}   floating base: {r.floating_base}")
    c.print(f"rates: PD {r.pd_rate_hz:g} Hz, policy {r.policy_rate_hz:g} Hz (decimation {r.decimation})"
            f"   action scale: {r.action_scale:g}")
    c.print(f"IMU site: {r.imu_site}   feet: {', '.join(r.feet) or '-'}")
    c.print(f"contact bodies: {', '.join(r.contact_bodies) or '-'}")
    c.print(f"integrator: {r.integrator}   passive joints: {', '.join(r.passive) or '-'}")
    if r.published_mass_kg:
        c.print(f"published mass: {r.published_mass_kg} kg ({r.published_mass_source})")
    from hrobot.spec import OPTIONAL_JOINT_FIELDS

    extra = [k for k in OPTIONAL_JOINT_FIELDS if any(getattr(j, k) is not None for j in r.joints)]
    t = Table(title="joints (action and observation order)")
    for col in ("#", "name", "default", "range [rad]", "vel [rad/s]", "torque [Nm]", "kp", "kd", *extra):
        t.add_column(col, justify="right" if col not in ("name",) else "left")
    for i, j in enumerate(r.joints):
        opt = ["-" if getattr(j, k) is None else f"{getattr(j, k):g}" for k in extra]
        t.add_row(str(i), j.name, f"{j.default:g}", f"[{j.lower:g}, {j.upper:g}]", f"{j.velocity_limit:g}",
                  f"{j.torque_limit:g}", f"{j.kp:g}", f"{j.kd:g}", *opt)
    c.print(t)
    return 0


def cmd_robots_check(args: argparse.Namespace) -> int:
    from hrobot.check import check_robot
    from hrobot.robots import load_robot

    robot = load_robot(args.robot)
    with _console().status(f"holding {robot.name}'s default pose for {args.seconds:g} s of sim time"):
        report = check_robot(robot, hold_s=args.seconds)
    _print_check(report)
    _write_json(args.json, report.to_dict())
    return 0 if report.passed else 1


def _print_check(rep) -> None:
    c = _console()
    mass = f"{rep.total_mass_kg:.3f} kg"
    if rep.published_mass_kg is not None:
        mass += f" (published {rep.published_mass_kg} kg, {rep.mass_error_pct:+.1f} %)"
    c.print(f"[bold]{rep.robot}[/bold]: {rep.num_joints} joints, total mass {mass}")
    if rep.initial_base_height_m is not None and rep.stable:
        c.print(f"  hold {rep.hold_s:g} s: base {rep.initial_base_height_m:.3f} m, sag in first second "
                f"{rep.settle_sag_m * 100:.1f} cm, drift after {rep.base_height_drift_m * 100:.2f} cm, "
                f"max tilt {rep.max_tilt_deg:.1f} deg")
    c.print(f"  max joint error at the end: {rep.max_joint_error_rad:.3f} rad")
    for f in rep.failures:
        c.print(f"  [red]FAIL[/red] {f}")
    c.print("  [green]PASS[/green]" if rep.passed else "  [red]FAILED[/red]")


def cmd_robots_kinematics(args: argparse.Namespace) -> int:
    from hrobot.robots import load_robot
    from hrobot.sim.model import build_sim_model, chain_kinematics

    robot = load_robot(args.robot)
    kin = chain_kinematics(build_sim_model(robot))
    _write_json(args.out, {"robot": robot.name, **kin})
    ends = "fingertips (for fingertip retargeting)" if robot.robot_class == "hand" else "feet (for the base estimator on the robot)"
    print(f"wrote {args.out}: kinematic chains of {len(kin['feet'])} {ends}")
    return 0


def cmd_robots_render(args: argparse.Namespace) -> int:
    from hrobot.robots import load_robot
    from hrobot.sim.render import render_robot

    robot = load_robot(args.robot)
    render_robot(robot, args.scene, args.out, width=args.width, height=args.height)
    print(f"wrote {args.out}")
    return 0


# ---------------------------------------------------------------- training


def cmd_train(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from hrobot.train import train

    out = Path(args.out or f"runs/{args.task}")
    from hrobot.tasks import load_task

    if load_task(args.task).KIND == "offline":
        return _train_offline(args, out)
    if args.dataset or args.dataset_minutes:
        raise HRobotError(f"--dataset / --dataset-minutes: task {args.task} trains online (offline tasks: "
                          f"go2_nav_hiql, go2_nav_gcbc, pointmaze_hiql, pointmaze_gcbc)")
    main_rank = not args.distributed or os.environ.get("RANK", "0") == "0"  # torchrun's other ranks print nothing
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("it {task.completed}/{task.total}"),
               TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn()]
    with Progress(*columns, console=_console(), refresh_per_second=2, disable=not main_rank) as progress:
        bar = progress.add_task(f"train {args.task}", total=args.iterations, info="starting")

        def on_iteration(done, total, info):
            text = f"{info['steps_per_s']:,.0f} steps/s  reward {info['mean_reward']:.2f}  "
            if "lin_vel_error" in info:
                text += (f"lin err {info['lin_vel_error']:.3f} m/s  "
                         f"yaw err {info.get('yaw_rate_error', float('nan')):.3f} rad/s")
            if "success_rate" in info:
                text += f"success {info['success_rate'] * 100:.0f} %  collisions {info['collision_rate'] * 100:.0f} %"
            progress.update(bar, completed=done, info=text)
            for w in info.get("warnings", []):
                progress.console.print(f"[yellow]warning:[/yellow] {w}")

        summary = train(args.task, out, backend=args.backend, num_envs=args.num_envs, iterations=args.iterations,
                        seed=args.seed, resume=args.resume, terrain=args.terrain, on_iteration=on_iteration,
                        command=" ".join(sys.argv) if sys.argv else "", init_from=args.init_from,
                        skills=args.skills, robot=args.robot, distributed=args.distributed, device=args.device,
                        threads=args.threads)
    if not main_rank:
        return 0
    for note in summary["adapted"]:
        _console().print(f"adapted {args.task} to {summary['robot']}: {note}")
    ranks = f" on {summary['world_size']} processes ({summary['distributed_backend']})" if args.distributed else ""
    _console().print(f"trained {summary['iterations']} iterations, {summary['env_steps']:,} env steps in "
                     f"{summary['wall_time_s'] / 60:.1f} min{ranks} -> {out} (checkpoint {summary['checkpoint']})")
    return 0


def _train_offline(args: argparse.Namespace, out: Path) -> int:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from hrobot.tasks import load_task
    from hrobot.tasks.offline.runner import train_offline

    max_steps = None
    if args.dataset_minutes is not None:
        if not args.dataset_minutes > 0:
            raise HRobotError(f"--dataset-minutes: expected a positive number of minutes, got {args.dataset_minutes:g}")
        mod = load_task(args.task)
        if not hasattr(mod, "steps_per_minute"):
            raise HRobotError(f"--dataset-minutes: task {args.task}'s dataset is not recorded time (use all of it)")
        max_steps = int(round(args.dataset_minutes * mod.steps_per_minute()))
    torch_threads(args.threads)
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("step {task.completed}/{task.total}"),
               TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn()]
    with Progress(*columns, console=_console(), refresh_per_second=2) as progress:
        bar = progress.add_task(f"train {args.task}", total=args.iterations, info="loading the dataset")

        def on_iteration(done, total, info):
            progress.update(bar, completed=done, info="  ".join(f"{k} {v:.3f}" for k, v in info.items()
                                                                if k.endswith("loss")))

        summary = train_offline(args.task, out, args.dataset, args.iterations, seed=args.seed, resume=args.resume,
                                on_iteration=on_iteration, command=" ".join(sys.argv), max_steps=max_steps)
    _console().print(f"trained {summary['iterations']} gradient steps on {summary['dataset_steps']:,} steps of "
                     f"{summary['dataset']} in {summary['wall_time_s'] / 60:.1f} min -> {out}")
    return 0


def torch_threads(n: int | None) -> None:
    import torch

    torch.set_num_threads(n or os.cpu_count() or 1)


def cmd_eval(args: argparse.Namespace) -> int:
    from hrobot.eval import evaluate, policy_source, write_json
    from hrobot.tasks import load_task
    from hrobot.tasks.offline.evaluate import evaluate_offline, is_offline_run, success_table

    plot = Path(args.plot) if args.plot else (Path(args.json).with_suffix(".png") if args.json else None)
    runs = [Path(r) for r in args.run]
    if any(is_offline_run(r) for r in runs):
        with _console().status(f"evaluating {len(runs)} offline run(s): {args.episodes} episodes each"):
            res = evaluate_offline(runs, episodes=args.episodes, seed=args.seed, plot=plot,
                                   reference=Path(args.reference) if args.reference else None,
                                   checkpoint=args.checkpoint)
        for line in success_table(res):
            _console().print(line)
        if args.json:
            write_json(Path(args.json), res)
        return 0
    if len(runs) > 1:
        raise HRobotError("several runs: only offline runs are evaluated together (the dataset-size curve)")
    run = runs[0]
    task = policy_source(run)[0]["task"]
    if task is None:  # an imported bundle: no training environment to rebuild, so the deployment runtime
        return _eval_runtime(args, run)
    if load_task(task).KIND == "navigation":
        return _eval_navigation(args, run, plot)
    if load_task(task).KIND == "reorientation":
        return _eval_reorient(args, run)
    if load_task(task).KIND == "carry":
        return _eval_carry(args, run)
    if load_task(task).KIND == "manipulation":
        from hrobot.eval import evaluate_inhand

        with _console().status(f"evaluating {run}: {args.episodes} episodes"):
            res = evaluate_inhand(run, episodes=args.episodes, seed=args.seed, checkpoint=args.checkpoint)
        for a in res["axes"]:
            _console().print(f"axis {a['axis']}: {a['achieved_rad_s']:+.2f} of {a['commanded_rad_s']:.2f} rad/s "
                             f"({a['achieved_over_commanded'] * 100:.0f} %), drops {a['drop_rate'] * 100:.0f} %")
        _console().print(f"drops {res['drop_rate'] * 100:.1f} % of {res['episodes']} episodes")
        if args.json:
            write_json(Path(args.json), res)
        return 0
    with _console().status(f"evaluating {run}: {args.episodes} episodes on flat ground, {args.rough_levels} rough levels"):
        res = evaluate(run, episodes=args.episodes, rough_levels=args.rough_levels, seed=args.seed, plot=plot,
                       checkpoint=args.checkpoint, payload_kg=args.payload)
    c = _console()
    c.print(f"[bold]{res['task']}[/bold] on {res['robot']}, flat: lin_vel_error {res['lin_vel_error']:.3f} m/s, "
            f"yaw_rate_error {res['yaw_rate_error']:.3f} rad/s, fall_rate {res['fall_rate'] * 100:.1f} % "
            f"({res['episodes']} episodes)")
    c.print(f"  feet off the ground: {', '.join(f'{a * 100:.0f} %' for a in res['feet_air_share'])} of policy steps")
    if "payload" in res:
        p = res["payload"]
        c.print(f"  with {p['kg']:g} kg on {', '.join(p['bodies'])}: lin_vel_error {p['lin_vel_error']:.3f} m/s, "
                f"yaw_rate_error {p['yaw_rate_error']:.3f} rad/s, fall_rate {p['fall_rate'] * 100:.1f} %")
    t = res["turn_in_place"]
    c.print(f"  turn in place: yaw_rate_error {t['yaw_rate_error']:.3f} rad/s, achieved/commanded "
            f"{t['yaw_rate_ratio']:.2f}, fall_rate {t['fall_rate'] * 100:.1f} %")
    for lvl in res.get("rough_levels", []):
        c.print(f"  rough level {lvl['level']} (difficulty {lvl['difficulty']:.2f}): lin {lvl['lin_vel_error']:.3f} m/s, "
                f"yaw {lvl['yaw_rate_error']:.3f} rad/s, falls {lvl['fall_rate'] * 100:.0f} % ({lvl['episodes']} ep; "
                + ", ".join(f"{k} {v * 100:.0f} %" for k, v in lvl["fall_rate_by_type"].items()) + ")")
    if args.json:
        write_json(Path(args.json), res)
        c.print(f"wrote {args.json}" + (f" and {plot}" if plot else ""))
    return 0


def _eval_runtime(args: argparse.Namespace, bundle: Path) -> int:
    """An imported bundle through the deployment runtime at its own PD rate, without noise or latency."""
    from hrobot.bundle import read_metadata
    from hrobot.eval import write_json
    from hrobot.sim2sim import sim2sim

    rate = float(read_metadata(bundle)["pd_rate_hz"])
    with _console().status(f"evaluating {bundle} through the deployment runtime: {args.episodes} episodes"):
        res = sim2sim(bundle, episodes=args.episodes, pd_rate_hz=rate, noise=False, latency=0, seed=args.seed)
    _console().print(f"[bold]{bundle}[/bold] (imported, deployment runtime at {rate:g} Hz): lin_vel_error "
                     f"{res['lin_vel_error']:.3f} m/s, yaw_rate_error {res['yaw_rate_error']:.3f} rad/s, fall_rate "
                     f"{res['fall_rate'] * 100:.1f} % ({res['episodes']} episodes)")
    if args.json:
        write_json(Path(args.json), res)
    return 0


def _eval_carry(args: argparse.Namespace, run: Path) -> int:
    from hrobot.eval import evaluate_carry, write_json

    with _console().status(f"evaluating {run}: {args.episodes} partner paths, the admittance baseline tuned on others"):
        res = evaluate_carry(run, episodes=args.episodes, seed=args.seed, checkpoint=args.checkpoint,
                             episode_s=args.episode_s)
    t = res["admittance_tuning"]
    _console().print(f"admittance gains {t['gain_force']:g} m/s per N, {t['gain_torque']:g} rad/s per N m "
                     f"(tuned on {t['episodes']} paths of seed {t['seed']})")
    for name in ("high_level", "admittance", "stand_still"):
        r = res[name]
        _console().print(f"{name:>12}: follower force {r['follower_force_mean_n']:.1f} N (peak {r['follower_force_peak_n']:.1f}), "
                         f"deviation {r['trajectory_deviation_m']:.2f} m, velocity correlation "
                         f"{r['velocity_correlation']:.2f} (lag {r['velocity_lag_s']:.2f} s), completed "
                         f"{r['completion_rate'] * 100:.0f} % in {r['completion_time_s']:.1f} s, falls "
                         f"{r['fall_rate'] * 100:.0f} %, drops {r['drop_rate'] * 100:.0f} %")
    if args.json:
        write_json(Path(args.json), res)
    return 0


def _eval_reorient(args: argparse.Namespace, run: Path) -> int:
    from hrobot.eval import evaluate_reorient, write_json

    with _console().status(f"evaluating {run}: {args.episodes} reorientation episodes and baselines"):
        res = evaluate_reorient(run, episodes=args.episodes, seed=args.seed, checkpoint=args.checkpoint,
                                flat_run=Path(args.flat_run) if args.flat_run else None)
    for key, row in res.items():
        if key.endswith("_rad"):
            for name, r in row.items():
                _console().print(f"{key:>7} {name:>10}: consecutive successes {r['mean_consecutive_successes']:.2f} "
                                 f"(median {r['median_consecutive_successes']:.0f}), first goal within 20 s "
                                 f"{r['first_goal_within_20s'] * 100:.0f} %, drops {r['drop_rate'] * 100:.0f} %")
    if args.json:
        write_json(Path(args.json), res)
    return 0


def _eval_navigation(args: argparse.Namespace, run: Path, plot: Path | None) -> int:
    from hrobot.eval import evaluate_navigation, write_json

    with _console().status(f"evaluating {run}: {args.episodes} navigation episodes and baselines"):
        res = evaluate_navigation(run, episodes=args.episodes, seed=args.seed, plot=plot,
                                  flat_run=Path(args.flat_run) if args.flat_run else None, checkpoint=args.checkpoint)
    c = _console()
    for name in ("high_level", "pure_pursuit", "flat"):
        if name in res:
            r = res[name]
            c.print(f"{name:>13}: success {r['success_rate'] * 100:5.1f} %, time to goal {r['mean_time_to_goal']:.1f} s,"
                    f" collisions {r['collision_rate'] * 100:.1f} %, falls {r['fall_rate'] * 100:.1f} %  | blocked "
                    f"layouts: success {r['blocked_layouts']['success_rate'] * 100:.1f} % "
                    f"({r['blocked_layouts']['episodes']} ep)  | time-outs {r['time_out_rate'] * 100:.1f} %, "
                    f"{r['time_out_near_goal_rate'] * 100:.1f} % near the goal "
                    f"({r['time_out_near_goal_off_heading_rate'] * 100:.1f} % off its heading)")
    if "skill_share" in res:
        c.print(f"skill use: {res['skill_share']}")
    if args.json:
        write_json(Path(args.json), res)
        c.print(f"wrote {args.json}" + (f" and {plot}" if plot else ""))
    return 0


def cmd_play(args: argparse.Namespace) -> int:
    from hrobot.eval import play

    with _console().status(f"rendering {args.seconds:g} s of {args.run}"):
        res = play(Path(args.run), Path(args.video), seconds=args.seconds, terrain=args.terrain)
    print(f"wrote {res['video']} ({res['frames']} frames, falls: {res['falls']})")
    return 0


def cmd_bench_sim(args: argparse.Namespace) -> int:
    from hrobot.bench import bench_sim

    with _console().status(f"benchmarking {args.robot} x {args.num_envs} envs on {args.backend}"):
        res = bench_sim(robot=args.robot, num_envs=args.num_envs, backend=args.backend, steps=args.steps,
                        train_iterations=args.train_iterations, nthread=args.threads)
    _console().print(
        f"{res['robot']} x {res['num_envs']} ({res['backend']}, {res['threads']} threads): bare "
        f"{res['bare_physics_steps_per_s']:,.0f} physics steps/s, env {res['env_physics_steps_per_s']:,.0f} "
        f"(ratio {res['ratio_env_to_bare']:.2f}), training {res['train_samples_per_s']:,.0f} samples/s (ratio to the "
        f"env's policy steps {res['ratio_train_to_env']:.2f}; PPO update {100 * res['train_update_share']:.0f} % of it)")
    _write_json(args.json, res)
    return 0


def cmd_bench_train(args: argparse.Namespace) -> int:
    from hrobot.bench import bench_train

    with _console().status(f"benchmarking {args.task} training: 1 process vs {args.processes}"):
        res = bench_train(task=args.task, num_envs=args.num_envs, iterations=args.iterations,
                          processes=args.processes, rounds=args.rounds, device=args.device)
    n = args.processes
    _console().print(f"{res['task']} x {res['num_envs']} envs ({res['device']}): 1 process "
                     f"{res['samples_per_s_1_process']:,.0f} samples/s, {n} processes "
                     f"{res[f'samples_per_s_{n}_processes']:,.0f} (ratio {res['ratio']:.2f}; {res['note']})")
    _write_json(args.json, res)
    return 0


def _memory_robots(robots: list[str] | None, folder: Path) -> list[str]:
    from hrobot.sim.meshbot import write_meshbot

    return robots or ["go2", str(write_meshbot(folder))]


def cmd_bench_memory(args: argparse.Namespace) -> int:
    from hrobot.bench import bench_memory

    robots = _memory_robots(args.robots, Path("out/bench/meshbot"))
    with _console().status(f"building {args.num_envs} envs of {', '.join(Path(r).stem for r in robots)}"):
        res = bench_memory(robots, num_envs=args.num_envs)
    for r in res["robots"]:
        _console().print(f"{r['robot']} x {r['num_envs']}: {r['memory_mb_per_env']:.2f} MB per env "
                         f"({r['env_memory_mb']:.0f} MB, built in {r['build_s']:.1f} s; model copy "
                         f"{r['model_copy_mb']:.2f} MB, full copies would need {r['full_copies_would_need_mb']:.0f} MB)")
    _write_json(args.json, res)
    return 0


def cmd_bench_goals(args: argparse.Namespace) -> int:
    from hrobot.bench import bench_goals

    res = bench_goals(n=args.goals, seed=args.seed, logs=Path(args.logs) if args.logs else None)
    for name in ("sim", "dds_device"):
        r = res[name]
        _console().print(f"{name}: {r['success_rate'] * 100:.0f} % of {args.goals} goals reached, mean time "
                         f"{r['mean_time_s'] or float('nan'):.1f} s ({r['bringup']})")
    _console().print(f"difference: {res['success_difference_points']:+.0f} points")
    _write_json(args.json, res)
    return 0


def cmd_bench_hand_goals(args: argparse.Namespace) -> int:
    from hrobot.bench import bench_hand_goals

    res = bench_hand_goals(n=args.goals, seed=args.seed, logs=Path(args.logs) if args.logs else None)
    for name in ("sim", "dynamixel_device"):
        r = res[name]
        _console().print(f"{name}: {r['success_rate'] * 100:.0f} % of {args.goals} goal orientations reached, mean "
                         f"time {r['mean_time_s'] or float('nan'):.1f} s ({r['bringup']})")
    _console().print(f"difference: {res['success_difference_points']:+.0f} points")
    _write_json(args.json, res)
    return 0


def cmd_bench_hardware(args: argparse.Namespace) -> int:
    from hrobot.bench import bench_hardware

    with _console().status(f"drivers against their simulated devices, {args.seconds:g} s each"):
        res = bench_hardware(seconds=args.seconds)
    h, g = res["leap_hand"], res["go2_dds"]
    _console().print(f"leap_hand (Dynamixel, pty): {h['read_rate_hz']:.0f} reads/s, read latency p50 "
                     f"{h['read_latency_us_p50']:.0f} us / p99 {h['read_latency_us_p99']:.0f} us")
    _console().print(f"go2 (DDS): loop {g['loop_rate_hz']:.1f} Hz, jitter p99 {g['period_jitter_us_p99']:.0f} us, "
                     f"{g['states_per_s']:.0f} states/s, {g['crc_errors']} CRC errors; state transit p50 "
                     f"{g['state_transit_us_p50']:.0f} us / p99 {g['state_transit_us_p99']:.0f} us, state-to-command "
                     f"p50 {g['state_to_command_us_p50']:.0f} us / p99 {g['state_to_command_us_p99']:.0f} us")
    _write_json(args.json, res)
    return 0


def cmd_bench_runtime(args: argparse.Namespace) -> int:
    from hrobot.bench import bench_runtime

    res = bench_runtime(Path(args.bundle), iterations=args.iterations)
    parts = ", ".join(f"{k.replace('_', ' ')} {res[k + '_us_p50']:.1f} / {res[k + '_us_p99']:.1f}"
                      for k in ("observation", "inference", "safety", "other"))
    _console().print(f"full step p50 / p99 {res['step_us_p50']:.1f} / {res['step_us_p99']:.1f} us ({parts}); "
                     f"step p99 / inference p99 {res['step_to_inference_p99']:.2f}; inference alone, warm "
                     f"{res['inference_warm_us_p50']:.1f} / {res['inference_warm_us_p99']:.1f} us "
                     f"({res['iterations']} steps)")
    _write_json(args.json, res)
    return 0


def cmd_bench_ros(args: argparse.Namespace) -> int:
    from hrobot.bench import bench_ros

    with _console().status(f"running the go2 sim bringup for {args.seconds:g} s"):
        res = bench_ros(seconds=args.seconds, bringup=args.bringup)
    _console().print(
        f"controller jitter p99 {res['controller_period_jitter_us_p99']:.0f} us, deadline misses "
        f"{res['deadline_misses']}, robot_driver {res['driver_rate_hz']:.1f} Hz, state->command latency p50 "
        f"{res['state_to_command_latency_us_p50']:.0f} us / p99 {res['state_to_command_latency_us_p99']:.0f} us; "
        f"bare rclpy pair beside it p50 {res['bare_pair_latency_us_p50']:.0f} us / p99 "
        f"{res['bare_pair_latency_us_p99']:.0f} us (p99 ratio {res['latency_to_bare_pair_p99']:.2f})")
    _write_json(args.json, res)
    return 0


def cmd_bench_record(args: argparse.Namespace) -> int:
    from hrobot.bench import bench_record

    with _console().status(f"recording at {', '.join(f'{r:g}' for r in args.rates)} msg/s, {args.seconds:g} s each"):
        res = bench_record(args.rates, args.seconds)
    for r in res["runs"]:
        _console().print(f"{r['achieved_msgs_per_s']:8.0f} msg/s: recorded {r['recorded']}/{r['sent']}, dropped "
                         f"{r['dropped_by_sequence']}, {r['write_mb_per_s']:.2f} MB/s written, recorder CPU "
                         f"{r['recorder_cpu_cores']:.2f} cores")
    _console().print(f"sustained with 0 drops: {res['sustained_msgs_per_s_with_0_drops']:.0f} msg/s")
    _write_json(args.json, res)
    return 0


def cmd_bench_all(args: argparse.Namespace) -> int:
    from hrobot.bench import (bench_goals, bench_hardware, bench_memory, bench_record, bench_ros, bench_runtime,
                              bench_sim)

    out = Path(args.out)
    runs = [("sim", lambda: bench_sim(num_envs=1024)),
            ("memory", lambda: bench_memory(_memory_robots(None, out / "meshbot"), num_envs=1024)),
            ("runtime", lambda: bench_runtime(Path("policies/go2_walk"))),
            ("ros", lambda: bench_ros(seconds=60.0)),
            ("hardware", lambda: bench_hardware(seconds=20.0)),
            ("goals", lambda: bench_goals(n=20)),
            ("record", lambda: bench_record(RECORD_RATES, seconds=10.0))]
    for name, fn in runs:
        with _console().status(f"bench {name}"):
            res = fn()
        _write_json(str(out / f"{name}.json"), res)
        _console().print(f"bench {name}: wrote {out / f'{name}.json'}")
    return 0


# ---------------------------------------------------------------- bundles


def cmd_export(args: argparse.Namespace) -> int:
    from hrobot.bundle import load_bundle
    from hrobot.export import export_run

    out = export_run(Path(args.run), Path(args.out), eval_json=Path(args.eval) if args.eval else None)
    b = load_bundle(out)
    print(f"wrote {out}/policy.onnx ({b.level} level, {b.meta['obs_dim']} obs -> {b.meta['action_dim']} actions) "
          f"and {out}/card.json")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from hrobot.bundle import load_bundle, required_state, spec_differences
    from hrobot.robots import load_robot

    robot = load_robot(args.robot) if args.robot else None
    b = load_bundle(Path(args.bundle), robot)
    print(f"{args.bundle}: valid {b.level}-level bundle for {b.robot.name} ({b.meta['obs_dim']} obs -> "
          f"{b.meta['action_dim']} actions, {b.meta['policy_rate_hz']:g} Hz)")
    if b.level == "low":
        print(f"  needs state fields: {', '.join(required_state(b.meta))}")
        for d in spec_differences(b.meta, robot or b.robot):
            print(f"  differs from the robot spec: {d}")
    return 0


def cmd_sim2sim(args: argparse.Namespace) -> int:
    from hrobot.eval import write_json
    from hrobot.robots import load_robot
    from hrobot.sim2sim import sim2sim

    with _console().status(f"sim2sim {args.bundle}: {args.episodes} episodes at {args.pd_rate:g} Hz PD"):
        res = sim2sim(Path(args.bundle), episodes=args.episodes, pd_rate_hz=args.pd_rate, noise=not args.no_noise,
                      latency=args.latency, seed=args.seed, robot_spec=load_robot(args.robot) if args.robot else None,
                      terrain_level=args.terrain_level)
    if "axes" in res:  # a rotation skill
        for a in res["axes"]:
            _console().print(f"sim2sim at {args.pd_rate:g} Hz, axis {a['axis']}: {a['achieved_rad_s']:+.2f} of "
                             f"{a['commanded_rad_s']:.2f} rad/s ({a['achieved_over_commanded'] * 100:.0f} %), drops "
                             f"{a['drop_rate'] * 100:.0f} %")
        _console().print(f"drops {res['drop_rate'] * 100:.1f} % of {res['episodes']} episodes"
                         + (f" (training sim: {res['training_sim']['drop_rate'] * 100:.1f} %)" if "training_sim" in res
                            else ""))
        if args.json:
            write_json(Path(args.json), res)
        return 0
    line = (f"sim2sim at {args.pd_rate:g} Hz: lin_vel_error {res['lin_vel_error']:.3f} m/s, yaw_rate_error "
            f"{res['yaw_rate_error']:.3f} rad/s, fall_rate {res['fall_rate'] * 100:.1f} % ({res['episodes']} episodes)")
    if "terrain" in res:
        line += f" on terrain level {res['terrain']['level']} (" + ", ".join(
            f"{k} {v * 100:.0f} %" for k, v in res["terrain"]["fall_rate_by_type"].items()) + ")"
    if "training_sim" in res:
        t = res["training_sim"]
        line += (f"\n   training sim: lin {t['lin_vel_error']:.3f}, yaw {t['yaw_rate_error']:.3f}, falls "
                 f"{t['fall_rate'] * 100:.1f} % -> ratios lin {res['lin_vel_error_ratio']:.2f}, "
                 f"yaw {res['yaw_rate_error_ratio']:.2f}")
    _console().print(line)
    if args.json:
        write_json(Path(args.json), res)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from hrobot.bundle import load_bundle
    from hrobot.importers import import_isaaclab, import_legged_gym

    order = [j.strip() for j in args.joint_order.split(",")] if args.joint_order else None
    if args.tool == "isaaclab":
        out = import_isaaclab(Path(args.policy), Path(args.config), args.robot, Path(args.out), order)
    else:
        out = import_legged_gym(Path(args.policy), Path(args.config), args.robot, Path(args.out), order)
    b = load_bundle(out)
    print(f"wrote {out}/policy.onnx: {args.tool} policy for {args.robot} ({b.meta['obs_dim']} obs -> "
          f"{b.meta['action_dim']} actions), joint order mapped")
    return 0


def cmd_launch(args: argparse.Namespace) -> int:
    from hrobot.deploy import launch, load_bringup

    load_bringup(args.bringup)  # validate before starting anything
    if args.record and Path(args.record).exists():
        raise HRobotError(f"--record: {args.record}: bag folder exists (a bag is never overwritten)")
    return launch(args.bringup, duration=args.duration, record=args.record, live=args.live)


# ---------------------------------------------------------------- teleop, recording, datasets


def cmd_teleop(args: argparse.Namespace) -> int:
    from hrobot.deploy import load_bringup, run_node
    from hrobot.robots import load_robot

    b = load_bringup(args.bringup)
    robot = b.robot or next((n["robot"] for n in b.nodes.values() if n.get("robot")), "go2")
    hand = not load_robot(robot).floating_base
    device = args.device or ("joint-topic" if hand else "keyboard")
    params = {"device": device, "robot": robot, "path": args.path or "", "rate_hz": args.rate}
    if device == "fingertips":
        from hrobot.deploy import REPO

        kin = args.kinematics or str(REPO / "deploy" / robot / "kinematics.json")
        if not Path(kin).is_file():
            raise HRobotError(f"--kinematics: {kin}: not found (write it with `hrobot robots kinematics {robot} --out {kin}`)")
        params["kinematics"] = str(Path(kin).resolve())
    return run_node("teleop", params, args.duration, where="hrobot teleop")


def cmd_record(args: argparse.Namespace) -> int:
    from hrobot.data import DEFAULT_TOPICS

    if args.recover:
        from hrobot.data.bag import recover

        r = recover(args.recover)
        print(f"recovered {r.info.path}: {r.info.message_count} messages on {len(r.info.topics)} topics from "
              f"{r.chunks} complete chunks ({r.tail_bytes_lost} bytes of an unfinished chunk dropped); "
              f"metadata.yaml written")
        return 0
    from hrobot.deploy import default_bag_name, run_node

    out = args.out or default_bag_name()
    if Path(out).exists():
        raise HRobotError(f"{out}: bag folder exists (a bag is never overwritten)")
    params = {"bag": out, "topics": args.topics or list(DEFAULT_TOPICS), "keys": args.keys,
              "stats_file": args.stats or "", "chunk_interval_s": args.chunk_interval}
    return run_node("recorder", params, args.duration, where="hrobot record")


def cmd_collect(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if args.what == "pointmaze":
        from hrobot.tasks.offline.pointmaze import PointMazeCfg, generate

        if out.exists():
            raise HRobotError(f"{out}: exists (a dataset is never overwritten)")
        cfg = PointMazeCfg(maze=args.maze, episodes=args.episodes)
        with _console().status(f"generating {cfg.episodes} episodes in the {cfg.maze} point maze"):
            data = generate(cfg, seed=args.seed)
        out.parent.mkdir(parents=True, exist_ok=True)
        data.save_npz(out)
        print(f"wrote {out}: {len(data):,} steps in {data.num_trajectories} episodes (OGBench's npz layout)")
        return 0
    from hrobot.data.collect import collect

    if args.minutes is None or args.minutes <= 0:
        raise HRobotError(f"--minutes: expected a positive number of minutes to record, got {args.minutes}")
    summary = collect(out, args.minutes, segment_minutes=args.segment_minutes, seed=args.seed,
                      log=_console().print)
    cut = f"; interrupted before {args.minutes:g} min" if summary["interrupted"] else ""
    print(f"wrote {out}: {summary['minutes']:.1f} min of exploration driving in {len(summary['segments'])} "
          f"recordings ({out}/collect.json){cut}")
    return 130 if summary["interrupted"] else 0


def cmd_bag_info(args: argparse.Namespace) -> int:
    from hrobot.data.bag import read_info

    info = read_info(args.bag)
    print(f"bag {info.path}: {info.message_count} messages, {info.duration_ns / 1e9:.2f} s, files {info.files}")
    for name, t in sorted(info.topics.items()):
        print(f"  {name:28s} {t.type:36s} {info.counts.get(name, 0):8d}")
    dropped = info.custom.get("hrobot.dropped")
    if dropped:
        print(f"  dropped (by sequence number): {dropped}")
    return 0


def cmd_dataset_export(args: argparse.Namespace) -> int:
    from hrobot.deploy import ensure_ros_env

    ensure_ros_env()  # messages are decoded by ROS typesupport (rclpy)
    from hrobot.data.dataset import export_lerobot

    rep = export_lerobot(args.bag, args.out, fps=args.fps, task=args.task, video=not args.no_video)
    print(f"wrote {args.out}: LeRobotDataset v3.0, {rep['episodes']} episodes, {rep['frames']} frames at "
          f"{rep['fps']:g} fps, features {', '.join(rep['features'])}")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from hrobot.deploy import ensure_ros_env

    ensure_ros_env()  # messages are decoded by ROS typesupport (rclpy)
    from hrobot.data.replay import replay

    rep = replay(args.bag, Path(args.out))
    _write_json(args.json, rep)
    print(f"replayed {rep['commands']} commands ({rep['duration_s']:.1f} s) on the simulated {rep['robot']}: joint "
          f"RMS difference {rep['joint_rms_rad']:.3f} rad, base path difference {rep['base_xy_rms_m']:.3f} m RMS; "
          f"plot {rep['plot']}")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from hrobot.deploy import ensure_ros_env

    ensure_ros_env()  # messages are decoded by ROS typesupport (rclpy)
    from hrobot.data.plot import plot_bag

    out = plot_bag(args.bag, Path(args.out))
    print(f"wrote {', '.join(str(p) for p in out)}")
    return 0


def cmd_device_dynamixel(args: argparse.Namespace) -> int:
    import time

    from hrobot.robots import load_robot
    from hrobot.sim.devices.dynamixel_bus import DynamixelBus

    robot = load_robot(args.robot)
    if robot.robot_class != "hand":
        raise HRobotError(f"robot {robot.name} is a {robot.robot_class}: the emulated Dynamixel bus carries a hand's servos")
    try:
        bus = DynamixelBus(robot, args.port).start()
    except ValueError as e:
        raise HRobotError(str(e)) from None
    tracker = _HandTracker(bus, robot, args.tracker_rate) if args.tracker_rate > 0 else None
    print(f"emulated Dynamixel bus for {args.robot} on {args.port} (Protocol 2.0, {len(bus.servos)} XC330 servos)"
          + (f", the cube's pose on /object_pose at {args.tracker_rate:g} Hz" if tracker else ""), flush=True)
    try:
        t_end = None if args.duration is None else time.monotonic() + args.duration
        period = 1.0 / args.tracker_rate if tracker else 0.1
        while t_end is None or time.monotonic() < t_end:
            time.sleep(period)
            if tracker:
                tracker.publish()
    finally:
        if tracker:
            tracker.close()
        bus.close()
    return 0


class _HandTracker:
    """The emulated hand's motion-capture: the cube's pose in the palm frame on /object_pose (ROS 2), as a real
    tracker's node publishes it."""

    def __init__(self, bus, robot, rate_hz: float):
        if not 0 < rate_hz <= 1000:
            raise HRobotError(f"--tracker-rate: expected 0 to 1000 Hz, got {rate_hz:g}")
        import rclpy
        from geometry_msgs.msg import PoseStamped
        from rclpy.context import Context
        from rclpy.qos import qos_profile_sensor_data

        self.bus, self.frame, self.Msg = bus, robot.base_body, PoseStamped
        self.context = Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("hand_tracker", context=self.context)
        self.pub = self.node.create_publisher(PoseStamped, "object_pose", qos_profile_sensor_data)

    def publish(self) -> None:
        pos, quat = self.bus.object_pose()
        msg = self.Msg()
        msg.header.stamp = self.node.get_clock().now().to_msg()
        msg.header.frame_id = self.frame
        msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = (float(v) for v in pos)
        o = msg.pose.orientation
        o.w, o.x, o.y, o.z = (float(v) for v in quat)
        self.pub.publish(msg)

    def close(self) -> None:
        self.node.destroy_node()
        self.context.try_shutdown()


def cmd_device_unitree(args: argparse.Namespace) -> int:
    from hrobot.robots import load_robot
    from hrobot.deploy import PARAM_RULES
    from hrobot.sim.devices.unitree_dds import DeviceWorld, UnitreeDevice

    robot = load_robot(args.robot)
    for flag, key, value in (("--scene", "scene", args.scene), ("--obstacles", "obstacles", args.obstacles or [])):
        problem = PARAM_RULES[("robot_driver", key)](value)
        if problem:
            raise HRobotError(f"{flag}: {problem}")
    for flag, value, low in (("--physics-hz", args.physics_hz, 1.0), ("--scan-rate", args.scan_rate, 0.0)):
        if not low <= value <= 20000.0:
            raise HRobotError(f"{flag}: expected {low:g} to 20000 Hz, got {value:g}")
    if not all(math.isfinite(v) for v in (*args.start, *(args.obstacles or ()))):
        raise HRobotError(f"--start / --obstacles: expected finite numbers, got {args.start} {args.obstacles}")
    world = DeviceWorld(args.scene, tuple(args.start), tuple(args.obstacles or ()), args.bar_x, args.scan_rate)
    try:
        dev = UnitreeDevice(robot, domain=args.domain, physics_hz=args.physics_hz, drop_every=args.drop_every,
                            corrupt_every=args.corrupt_every, world=world)
    except ValueError as e:
        raise HRobotError(str(e)) from None
    print(f"simulated {robot.name} ({dev.family}) on DDS domain {args.domain}: rt/lowcmd, rt/lowstate at "
          f"{dev.rate_hz:g} Hz, motion switcher (sport mode '{dev.sport_mode}')", flush=True)
    if args.tick_log:
        dev.tick_log = []
    dev.run(duration=args.duration)
    if args.tick_log:  # this machine's monotonic clock, shared by every process on it: latencies across them
        Path(args.tick_log).write_text(json.dumps(dev.tick_log))
    return 0


# ---------------------------------------------------------------- demo


def cmd_demo(args: argparse.Namespace) -> int:
    from hrobot.demo import demo, stand_demo

    if args.stand:
        return stand_demo(args.robot, Path(args.out), _console())
    from hrobot.deploy import ensure_ros_env

    ensure_ros_env()  # rclpy needs the venv's and the workspace's libraries on the loader path
    if args.robot == "leap_hand":
        from hrobot.demo import hand_demo

        return hand_demo(Path(args.out), _console())
    if args.robot != "go2":
        raise HRobotError(f"--robot: the ROS demo runs go2 or leap_hand, got '{args.robot}' (--stand renders any robot)")
    return demo(Path(args.out), _console())


# ---------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hrobot",
        description="Hierarchical sim-to-real robot control: robots, simulation, training, export, deployment.",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    robots = sub.add_parser("robots", help="list, inspect, check and render robots",
                            description="Built-in robots (go2, g1, leap_hand) or any robot given by a spec YAML.")
    rsub = robots.add_subparsers(dest="robots_command", metavar="ACTION", required=True)
    rsub.add_parser("list", help="list the built-in robots").set_defaults(func=cmd_robots_list)

    show = rsub.add_parser("show", help="print a robot's spec: joints, limits, gains, rates, sensors")
    show.add_argument("robot", help="built-in name or path of a spec YAML")
    show.add_argument("--json", action="store_true", help="print the spec as JSON")
    show.set_defaults(func=cmd_robots_show)

    check = rsub.add_parser(
        "check", help="compile the model, hold the default pose under PD, report mass, drift and errors",
        description="Compile the robot, hold its default pose under the spec's PD gains, and report total mass "
                    "(vs published), base height drift, max joint error and pass/fail. Exit 0 on pass, 1 on fail.",
    )
    check.add_argument("robot", help="built-in name or path of a spec YAML")
    check.add_argument("--json", metavar="FILE", help="also write the report as JSON")
    check.add_argument("--seconds", type=float, default=10.0, help="sim time to hold the pose (default 10)")
    check.set_defaults(func=cmd_robots_check)

    kin = rsub.add_parser("kinematics", help="write the kinematic chains base -> feet or fingertips (JSON)",
                          description="The kinematic chain from the base to each foot (or fingertip) site, from the "
                                      "robot's model, as plain data: the on-robot base estimator and fingertip "
                                      "retargeting need no MuJoCo.")
    kin.add_argument("robot", help="built-in name or path of a spec YAML")
    kin.add_argument("--out", required=True, metavar="FILE.json")
    kin.set_defaults(func=cmd_robots_kinematics)

    render = rsub.add_parser("render", help="render the robot standing in a scene to a PNG")
    render.add_argument("robot", help="built-in name or path of a spec YAML")
    render.add_argument("--out", required=True, metavar="FILE.png", help="output image")
    render.add_argument("--scene", default=None, choices=SCENES,
                        help="scene (default: flat, or hand_object for hands)")
    render.add_argument("--width", type=int, default=960)
    render.add_argument("--height", type=int, default=640)
    render.set_defaults(func=cmd_robots_render)

    tr = sub.add_parser("train", help="train a task with PPO (rsl_rl) in batched simulation",
                        description="Train a low-level skill with rsl_rl PPO in N parallel MuJoCo environments. Writes "
                                    "checkpoints, TensorBoard logs and run.json to --out.")
    tr.add_argument("task", help="task: go2_walk, g1_walk, go2_crouch (skills); go2_nav, go2_nav_skills, "
                                 "g1_nav (high level); go2_nav_flat (baseline)")
    tr.add_argument("--backend", default="mujoco", choices=["mujoco", "warp"], help="simulator backend")
    tr.add_argument("--num-envs", type=int, default=None, help="parallel environments (default: the task's)")
    tr.add_argument("--iterations", type=int, default=500, help="PPO iterations (default 500)")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--terrain", choices=["flat", "rough"], default=None, help="terrain (default: the task's)")
    tr.add_argument("--out", default=None, help="run folder (default runs/TASK)")
    tr.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    tr.add_argument("--init-from", metavar="RUN_OR_BUNDLE", help="start from another run's weights, or a bundle's actor (fine-tuning; the card records it)")
    tr.add_argument("--skills", nargs="+", metavar="PATH", help="high-level tasks: skill runs or bundles to use")
    tr.add_argument("--robot", metavar="NAME_OR_SPEC", help="train on this robot (built-in name or spec YAML) "
                    "instead of the task's own; it must be of the task's robot class")
    tr.add_argument("--dataset", help="offline tasks: a recording, a folder of recordings (hrobot collect), a LeRobot "
                                      "dataset or an .npz in OGBench's layout")
    tr.add_argument("--dataset-minutes", type=float, help="offline navigation tasks: learn from the first M minutes")
    tr.add_argument("--threads", type=int, default=None,
                    help="CPU threads for simulation and torch (default: all cores, split among distributed ranks); "
                         "on a machine shared with other jobs, no more than its free cores")
    tr.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                    help="where the policy update (and the warp backend's simulation) runs; distributed ranks take "
                         "cuda:LOCAL_RANK")
    tr.add_argument("--distributed", action="store_true",
                    help="one rank of a torchrun job (torchrun --nproc-per-node N $(which hrobot) train TASK "
                         "--distributed): --num-envs is the total, split over the ranks; NCCL on GPUs, Gloo on CPUs")
    tr.set_defaults(func=cmd_train)

    ev = sub.add_parser("eval", help="evaluate a trained run: tracking errors and fall rate over a command sweep",
                        description="Episodes over a command sweep on flat ground (and per rough-terrain level) with "
                                    "pushes; writes lin_vel_error, yaw_rate_error, fall_rate, episodes and a PNG plot.")
    ev.add_argument("run", nargs="+", help="run folder (from hrobot train) or a policy bundle; several offline "
                                            "navigation runs: the curve of success against dataset size")
    ev.add_argument("--reference", metavar="BUNDLE", help="offline navigation runs: the online high level to "
                                                         "evaluate beside them (e.g. policies/go2_nav)")
    ev.add_argument("--json", metavar="FILE", help="write the results as JSON (the plot goes next to it)")
    ev.add_argument("--plot", metavar="FILE.png", help="commanded vs achieved velocity plot")
    ev.add_argument("--episodes", type=int, default=100, help="flat-ground episodes (default 100)")
    ev.add_argument("--rough-levels", type=int, default=5, help="rough-terrain levels to test (0: none)")
    ev.add_argument("--seed", type=int, default=123, help="layout / episode seed (held out from training)")
    ev.add_argument("--flat-run", metavar="RUN", help="navigation, reorientation: also evaluate this flat-baseline run")
    ev.add_argument("--checkpoint", metavar="model_N.pt", help="a specific checkpoint of the run (default: the latest)")
    ev.add_argument("--episode-s", type=float, metavar="S", help="carry: episodes this long instead of the task's")
    ev.add_argument("--payload", type=float, default=0.0, metavar="KG",
                    help="locomotion: the flat sweep again with this payload on the task's payload bodies")
    ev.set_defaults(func=cmd_eval)

    pl = sub.add_parser("play", help="render a trained policy to a video")
    pl.add_argument("run", help="run folder (from hrobot train)")
    pl.add_argument("--video", required=True, metavar="FILE.mp4")
    pl.add_argument("--seconds", type=float, default=12.0)
    pl.add_argument("--terrain", choices=["flat", "rough"], default="flat")
    pl.set_defaults(func=cmd_play)

    bench = sub.add_parser("bench", help="benchmarks (JSON results)")
    bsub = bench.add_subparsers(dest="bench_command", metavar="WHAT", required=True)
    bs = bsub.add_parser("sim", help="bare physics vs training env vs env+PPO throughput, in one run",
                         description="Measures bare_physics_steps_per_s, env_physics_steps_per_s, train_samples_per_s "
                                     "and ratio_env_to_bare on the same model, threads and N.")
    bs.add_argument("--robot", default="go2", help="go2, g1 or a legged robot's spec YAML (default go2)")
    bs.add_argument("--num-envs", type=int, default=1024)
    bs.add_argument("--backend", default="mujoco", choices=["mujoco", "warp"])
    bs.add_argument("--steps", type=int, default=50, help="policy steps measured (default 50)")
    bs.add_argument("--train-iterations", type=int, default=3)
    bs.add_argument("--threads", type=int, default=None, help="simulation threads (default: all cores)")
    bs.add_argument("--json", metavar="FILE")
    bs.set_defaults(func=cmd_bench_sim)

    bt = bsub.add_parser("train", help="training throughput: one process vs N under torchrun, in one run",
                         description="Runs hrobot train in one process and with --distributed in N (torchrun), "
                                     "alternating, the same total env count; reports samples/s of each and the ratio.")
    bt.add_argument("--task", default="go2_walk")
    bt.add_argument("--num-envs", type=int, default=1024, help="total over the processes (default 1024)")
    bt.add_argument("--iterations", type=int, default=8)
    bt.add_argument("--processes", type=int, default=2)
    bt.add_argument("--rounds", type=int, default=2)
    bt.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    bt.add_argument("--distributed", action="store_true", help="(the comparison is always distributed; accepted "
                                                                 "for `hrobot bench train --distributed`)")
    bt.add_argument("--json", metavar="FILE")
    bt.set_defaults(func=cmd_bench_train)

    bm = bsub.add_parser("memory", help="memory per env of training envs, each robot in a fresh process",
                         description="Builds each robot's training env with N envs in its own interpreter and reports "
                                     "memory_mb_per_env, the per-env model copy and what full model copies would need.")
    bm.add_argument("robots", nargs="*", default=None, metavar="ROBOT",
                    help="robots (names or spec YAMLs); default: go2 and a generated meshed quadruped")
    bm.add_argument("--num-envs", type=int, default=1024)
    bm.add_argument("--json", metavar="FILE")
    bm.set_defaults(func=cmd_bench_memory)

    bh = bsub.add_parser("hardware", help="drivers against their simulated devices: rates, jitter, latency",
                         description="LEAP over the emulated Dynamixel bus and Go2 over DDS against hrobot device "
                                     "unitree: read rate and latency, driver loop rate and jitter, states per second.")
    bh.add_argument("--seconds", type=float, default=10.0)
    bh.add_argument("--json", metavar="FILE")
    bh.set_defaults(func=cmd_bench_hardware)

    bg = bsub.add_parser("goals", help="Go2 goals through the sim bringup and through the DDS driver to the simulated "
                                       "device (real.yaml, device: simulated), same goals, one run")
    bg.add_argument("--goals", type=int, default=20)
    bg.add_argument("--seed", type=int, default=0)
    bg.add_argument("--logs", metavar="FOLDER", help="keep each episode's launch log here")
    bg.add_argument("--json", metavar="FILE")
    bg.set_defaults(func=cmd_bench_goals)

    bhg = bsub.add_parser("hand-goals", help="LEAP hand goal orientations through the sim bringup and through the "
                                             "Dynamixel driver to the emulated bus (real.yaml, device: simulated)")
    bhg.add_argument("--goals", type=int, default=10)
    bhg.add_argument("--seed", type=int, default=0)
    bhg.add_argument("--logs", metavar="FOLDER", help="keep each episode's launch log here")
    bhg.add_argument("--json", metavar="FILE")
    bhg.set_defaults(func=cmd_bench_hand_goals)

    br = bsub.add_parser("runtime", help="deployment step latency: inference and full observation->safe command")
    br.add_argument("bundle", help="policy bundle folder")
    br.add_argument("--iterations", type=int, default=5000)
    br.add_argument("--json", metavar="FILE")
    br.set_defaults(func=cmd_bench_runtime)

    bro = bsub.add_parser("ros", help="ROS 2 loop jitter, deadline misses, rates and latency over the sim bringup")
    bro.add_argument("--seconds", type=float, default=60.0)
    bro.add_argument("--bringup", default=None, help="bringup YAML (default deploy/go2/sim.yaml)")
    bro.add_argument("--json", metavar="FILE")
    bro.set_defaults(func=cmd_bench_ros)

    bre = bsub.add_parser("record", help="the recorder against a publisher at rising rates: msg/s with 0 drops, "
                          "bandwidth, CPU")
    bre.add_argument("--rates", type=float, nargs="+", default=RECORD_RATES, help="total messages/s to try")
    bre.add_argument("--seconds", type=float, default=10.0, help="seconds per rate (default 10)")
    bre.add_argument("--json", help="write the results here (JSON)")
    bre.set_defaults(func=cmd_bench_record)

    ba = bsub.add_parser("all", help="every benchmark, JSON results in --out (what `make bench` runs)")
    ba.add_argument("--out", default="out/bench")
    ba.set_defaults(func=cmd_bench_all)

    ex = sub.add_parser("export", help="export a trained run as a policy bundle (ONNX + metadata + card)",
                        description="Write policy.onnx (with the metadata deployment needs) and card.json.")
    ex.add_argument("run", help="run folder (from hrobot train)")
    ex.add_argument("--out", required=True, help="bundle folder, e.g. policies/go2_walk")
    ex.add_argument("--eval", metavar="EVAL.json", help="evaluation results to record in the card")
    ex.set_defaults(func=cmd_export)

    va = sub.add_parser("validate", help="check a policy bundle against the robot it will drive")
    va.add_argument("bundle", help="policy bundle folder")
    va.add_argument("--robot", help="robot to validate against (default: the bundle's own robot)")
    va.set_defaults(func=cmd_validate)

    s2 = sub.add_parser("sim2sim", help="run a bundle through the deployment runtime in native MuJoCo",
                        description="The bundle as deployed (runtime + safety layer + motor PD) against native MuJoCo "
                                    "at another PD rate, with sensor noise and latency; same metrics as hrobot eval.")
    s2.add_argument("bundle", help="policy bundle folder")
    s2.add_argument("--json", metavar="FILE")
    s2.add_argument("--episodes", type=int, default=100)
    s2.add_argument("--pd-rate", type=float, default=1000.0, help="physics / PD rate in Hz (default 1000)")
    s2.add_argument("--latency", type=int, default=1, help="command latency in control periods (default 1)")
    s2.add_argument("--no-noise", action="store_true", help="no sensor noise")
    s2.add_argument("--seed", type=int, default=7)
    s2.add_argument("--terrain-level", type=int, metavar="L", help="on rough terrain of this curriculum level (0-9), "
                    "from the centres of its tiles, the terrain types in turn (default: flat ground)")
    s2.add_argument("--robot", metavar="NAME_OR_SPEC", help="run on this robot's model instead of the bundle's own "
                    "(e.g. a vendor model of the same robot; it must pass the bundle's checks)")
    s2.set_defaults(func=cmd_sim2sim)

    im = sub.add_parser("import", help="import a policy trained with Isaac Lab or legged_gym as a bundle",
                        description="isaaclab POLICY.onnx ENV_YAML (Isaac Lab rsl_rl export + params/env.yaml), or "
                                    "legged-gym POLICY.pt CONFIG (TorchScript + unitree_rl_gym deploy YAML).")
    im.add_argument("tool", choices=["isaaclab", "legged-gym"])
    im.add_argument("policy", help="policy.onnx (isaaclab) or policy.pt (legged-gym)")
    im.add_argument("config", help="params/env.yaml (isaaclab) or the deploy config YAML (legged-gym)")
    im.add_argument("--robot", required=True, help="robot the policy drives (built-in name or spec YAML)")
    im.add_argument("--out", required=True, help="bundle folder")
    im.add_argument("--joint-order", help="comma-separated joint names in the policy's order (if not known)")
    im.set_defaults(func=cmd_import)

    dev = sub.add_parser("device", help="simulated devices that speak a real robot's wire protocol",
                         description="A MuJoCo robot behind the robot's own protocol, for the real driver to talk to.")
    dsub = dev.add_subparsers(dest="device_command", metavar="KIND", required=True)
    dx = dsub.add_parser("dynamixel", help="an emulated Dynamixel Protocol 2.0 bus on a pseudo-terminal",
                         description="XC330 servos (one per joint) on a pty linked at --port: open it as the serial "
                                     "port of a USB adapter (hrobot's LEAP driver, ROBOTIS's dynamixel-sdk).")
    dx.add_argument("--robot", default="leap_hand", help="the hand (default leap_hand)")
    dx.add_argument("--port", required=True, help="path to link to the bus's terminal, e.g. /tmp/ttyLEAP")
    dx.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    dx.add_argument("--tracker-rate", type=float, default=0.0, help="also publish the cube's pose in the palm frame "
                    "on /object_pose (ROS 2) at this rate, as a motion-capture node would (0: no tracker)")
    dx.set_defaults(func=cmd_device_dynamixel)

    du = dsub.add_parser("unitree", help="a simulated Unitree Go2 / G1 on DDS (CycloneDDS 0.10.2)",
                         description="rt/lowcmd (CRC checked), rt/lowstate at 500 Hz (with CRC), the motion switcher; "
                                     "a MuJoCo robot under the motors' own law.")
    du.add_argument("--robot", default="go2", help="go2 (unitree_go) or g1 (unitree_hg), or a spec with motor_index")
    du.add_argument("--domain", type=int, default=1, help="DDS domain (the real robot uses 0; default 1)")
    du.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    du.add_argument("--drop-every", type=int, default=0, help="fault: drop every n-th state message")
    du.add_argument("--corrupt-every", type=int, default=0, help="fault: corrupt the CRC of every n-th state message")
    du.add_argument("--scene", default="flat", help="the world (flat | rough | arena)")
    du.add_argument("--physics-hz", type=float, default=1000.0, help="physics and motor-law rate (default 1000)")
    du.add_argument("--start", type=float, nargs=3, default=(0.0, 0.0, 0.0), metavar=("X", "Y", "YAW"),
                    help="start pose")
    du.add_argument("--obstacles", type=float, nargs="*", help="arena boxes: x0 y0 x1 y1 ...")
    du.add_argument("--bar-x", type=float, default=None, help="x of the arena's low bar (default: none)")
    du.add_argument("--tick-log", metavar="FILE", help="write each state's tick and publish time (JSON, at the end "
                    "of --duration; for latency benchmarks)")
    du.add_argument("--scan-rate", type=float, default=0.0,
                    help="publish range scans (rt/hrobot/scan) at this rate in Hz (default 0: none)")
    du.set_defaults(func=cmd_device_unitree)

    la = sub.add_parser("launch", help="run a bringup YAML: one process per ROS 2 node, supervised",
                        description="Start every node of a bringup (deploy/ROBOT/*.yaml) as its own process; Ctrl-C "
                                    "stops them cleanly; if a node dies the others are stopped and the exit code is 1.")
    la.add_argument("bringup", help="bringup YAML, e.g. deploy/go2/sim.yaml")
    la.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    la.add_argument("--record", nargs="?", const="", default=None, metavar="BAG",
                    help="record the default topics too (into BAG, or a new bags/rosbag2_<time>)")
    la.add_argument("--live", action="store_true", help="the Foxglove live view too (ws://127.0.0.1:8765)")
    la.set_defaults(func=cmd_launch)

    te = sub.add_parser("teleop", help="drive a bringup's robot from a keyboard, a gamepad, a Joy topic or a leader hand",
                        description="Teleoperation through the running bringup: legged robots take /teleop/cmd_vel "
                                    "(overriding the high level while the deadman is held), hands take joint targets "
                                    "from a leader's JointState. The e-stop latches damping on the robot.")
    te.add_argument("bringup", help="the bringup YAML the robot runs, e.g. deploy/go2/sim.yaml")
    te.add_argument("--device", choices=["keyboard", "gamepad", "joy-topic", "joint-topic", "fingertips"],
                    help="teleoperator (default: keyboard; joint-topic for a hand)")
    te.add_argument("--kinematics", help="fingertips: the hand's chains (default: deploy/ROBOT/kinematics.json)")
    te.add_argument("--path", help="keyboard: a terminal device; gamepad: an evdev device or a recorded event stream")
    te.add_argument("--rate", type=float, default=50.0, help="command rate in Hz (default 50)")
    te.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    te.set_defaults(func=cmd_teleop)

    rec = sub.add_parser("record", help="record topics into a rosbag2 MCAP bag (zstd chunks, crash-safe)",
                         description="Record ROS 2 topics into a bag folder (metadata.yaml + MCAP) that ros2 bag, "
                                     "Foxglove and the rosbags library read. Dropped messages are counted by sequence "
                                     "number. --recover rebuilds a bag whose recorder was killed.")
    rec.add_argument("--out", help="bag folder to create (default bags/rosbag2_<time>)")
    rec.add_argument("--topics", nargs="+", help="topics (default: state, commands, goals, odometry, IMU, scans, "
                     "diagnostics, events)")
    rec.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    rec.add_argument("--keys", action="store_true", help="episode marks from this terminal (b, right, left, Q)")
    rec.add_argument("--stats", metavar="FILE", help="write rates, drops, bandwidth and CPU (JSON)")
    rec.add_argument("--chunk-interval", type=float, default=1.0, help="close a chunk at least this often (s)")
    rec.add_argument("--recover", metavar="BAG", help="instead: recover the bag of a recorder that died")
    rec.set_defaults(func=cmd_record)

    co = sub.add_parser("collect", help="record a dataset for offline learning (exploration driving, or OGBench's "
                                       "point maze)",
                        description="go2: the simulated Go2 bringup driven by the explorer node (random waypoints in "
                                    "free space, shortest paths around the layout's boxes, pure pursuit, noise, a stop "
                                    "at each) in a new arena layout per segment, recorded by the recorder "
                                    "node (a folder of bags). pointmaze: OGBench's navigate procedure (a noisy oracle) "
                                    "in its point maze, written in OGBench's npz layout.")
    co.add_argument("what", choices=["go2", "pointmaze"])
    co.add_argument("--out", required=True, help="dataset folder (go2) or .npz file (pointmaze) to create")
    co.add_argument("--minutes", type=float, help="go2: minutes of driving to record")
    co.add_argument("--segment-minutes", type=float, default=10.0, help="go2: minutes per arena layout (default 10)")
    co.add_argument("--maze", default="medium", choices=["medium", "large", "giant"], help="pointmaze: the maze")
    co.add_argument("--episodes", type=int, default=200, help="pointmaze: episodes of 1000 steps (default 200)")
    co.add_argument("--seed", type=int, default=0)
    co.set_defaults(func=cmd_collect)

    bag = sub.add_parser("bag", help="inspect a bag")
    bagsub = bag.add_subparsers(dest="bag_command", metavar="ACTION", required=True)
    bi = bagsub.add_parser("info", help="topics, types and counts of a bag (as ros2 bag info)")
    bi.add_argument("bag")
    bi.set_defaults(func=cmd_bag_info)

    ds = sub.add_parser("dataset", help="datasets from recordings")
    dsub = ds.add_subparsers(dest="dataset_command", metavar="ACTION", required=True)
    dx = dsub.add_parser("export", help="a bag as a LeRobotDataset v3.0 (parquet, stats, per-episode video)")
    dx.add_argument("bag")
    dx.add_argument("--out", required=True, help="dataset folder to create")
    dx.add_argument("--fps", type=float, default=50.0, help="frame rate of the resampled grid (default 50)")
    dx.add_argument("--task", default="", help="the task text of every episode (default: from the bag's robot)")
    dx.add_argument("--no-video", action="store_true", help="leave out the rendered videos")
    dx.set_defaults(func=cmd_dataset_export)

    rp = sub.add_parser("replay", help="send a bag's recorded commands to the simulated robot; plot recorded vs replayed")
    rp.add_argument("bag")
    rp.add_argument("--out", default="out/replay", help="output folder (default out/replay)")
    rp.add_argument("--json", help="write the comparison (JSON)")
    rp.set_defaults(func=cmd_replay)

    pt = sub.add_parser("plot", help="joint tracking, commanded vs achieved base velocity and safety events of a bag (PNG)")
    pt.add_argument("bag")
    pt.add_argument("--out", default="out/plot", help="output folder (default out/plot)")
    pt.set_defaults(func=cmd_plot)

    demo = sub.add_parser("demo", help="the main job on the simulated robot (what `make demo` runs)",
                          description="Go2 in simulation reaching a sequence of goals around obstacles through ROS 2 "
                                      "(robot_driver, skill_controller, goal_planner), with the shipped policies; prints "
                                      "per-goal results, writes a trajectory plot and a video.")
    demo.add_argument("--stand", action="store_true", help="instead: stand a robot under PD and render it")
    demo.add_argument("--robot", default="go2", help="go2 (default) or leap_hand (cube orientations through "
                      "reorient_planner); with --stand any robot")
    demo.add_argument("--out", default="out/demo", help="output folder (default out/demo)")
    demo.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except HRobotError as e:
        print(f"hrobot: error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("hrobot: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
