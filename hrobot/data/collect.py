"""`hrobot collect go2`: exploration driving recorded for offline learning, the way a user's data is made.

Each segment launches the simulated Go2 bringup (`deploy/go2/sim.yaml`: robot_driver, skill_controller)
in a fresh arena layout and start pose, with the `explorer` node driving the walking skill over
/cmd_vel and the real `recorder` node writing a rosbag2 MCAP bag of the navigation topics; a segment
ends after its time or when the robot falls (the simulator cannot stand it up again); Ctrl-C or SIGTERM
ends the collection with the segments recorded so far. The folder of bags is the dataset (`hrobot train
go2_nav_hiql --dataset FOLDER`); collect.json lists the segments.
"""

from __future__ import annotations

import json
import math
import random
import time
from pathlib import Path

import numpy as np
import yaml

from hrobot.errors import HRobotError
from hrobot.world import ARENA_OBSTACLES

# what offline navigation learning reads: odometry, the scans, the task commands of each source and the
# active one, trips and marks, and the driver's diagnostics (the robot's name)
MIN_SEGMENT_S = 20.0  # the nodes take seconds to start: a shorter launch records nothing
NAV_TOPICS = ["/odom", "/scan_low", "/scan_high", "/cmd_vel", "/teleop/cmd_vel", "/cmd_source", "/events",
              "/diagnostics"]


def random_layout(rng: np.random.Generator, start, n: int = 4, half: float = 3.0, clear: float = 1.0) -> list[float]:
    """n box centres (x, y) in the arena, `clear` m from the start and 1.2 m from each other."""
    boxes: list[np.ndarray] = []
    while len(boxes) < n:
        p = rng.uniform(-half, half, 2)
        if np.hypot(*(p - start[:2])) > clear and all(np.hypot(*(p - b)) > 1.2 for b in boxes):
            boxes.append(p)
    return [float(v) for b in boxes for v in b]


def segment_bringup(base: dict, repo: Path, seed: int, bag: Path, command: dict) -> dict:
    """The sim bringup with the explorer in the planner's place (inside the skill's `command` range, driving
    around the layout's boxes as a person who sees them would) and a recorder of NAV_TOPICS."""
    rng = np.random.default_rng(seed)
    start = np.array([*rng.uniform(-2.5, 2.5, 2), rng.uniform(-math.pi, math.pi)])
    nodes = {k: dict(v) for k, v in base["nodes"].items() if k in ("robot_driver", "skill_controller")}
    boxes = random_layout(rng, start, n=min(5, ARENA_OBSTACLES))
    nodes["robot_driver"].update(start=[float(v) for v in start], obstacles=boxes)
    nodes["explorer"] = {"command_low": [float(v) for v in command["low"]],
                         "command_high": [float(v) for v in command["high"]], "seed": float(seed), "obstacles": boxes}
    nodes["recorder"] = {"bag": str(bag), "topics": NAV_TOPICS}
    return {**base, "root": str(repo), "nodes": nodes,
            "description": f"{base.get('description', '')}; explorer segment, seed {seed}"}


def collect(out: Path, minutes: float, segment_minutes: float = 10.0, seed: int = 0,
            bringup: Path | None = None, log=print) -> dict:
    from hrobot.bundle import read_metadata
    from hrobot.data.bag import read_info
    from hrobot.data.recording import load_recording
    from hrobot.deploy import REPO, launch

    bringup = Path(bringup or REPO / "deploy" / "go2" / "sim.yaml")
    base = yaml.safe_load(bringup.read_text())
    if base.get("robot") != "go2" or "skill_controller" not in base.get("nodes", {}):
        raise HRobotError(f"{bringup}: collect drives a simulated go2 bringup with a skill_controller")
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise HRobotError(f"{out}: exists and is not empty; choose a new folder for the dataset")
    out.mkdir(parents=True, exist_ok=True)
    command = read_metadata(REPO / base["nodes"]["skill_controller"]["bundle"])["command"]
    segments, recorded, failed, interrupted = [], 0.0, 0, False
    k = 0
    while recorded < minutes * 60.0 - 1.0:
        seconds = max(min(segment_minutes * 60.0, minutes * 60.0 - recorded), MIN_SEGMENT_S)
        bag = out / f"segment_{k:03d}"
        path = out / f"segment_{k:03d}.yaml"
        path.write_text(yaml.safe_dump(segment_bringup(base, REPO, seed + k, bag, command), sort_keys=False))
        t0 = time.monotonic()
        with (out / f"segment_{k:03d}.log").open("w") as launch_log:
            try:
                rc = launch(path, duration=seconds, log=lambda line: print(line, file=launch_log, flush=True),
                            env_extra={"ROS_DOMAIN_ID": str(random.Random(seed + k).randint(1, 200)),
                                       "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}, interrupt=True)
            except KeyboardInterrupt:  # Ctrl-C or SIGTERM: this segment's bag (closed by its recorder) is the last
                interrupted, rc = True, 130
        if interrupted and not (bag / "metadata.yaml").is_file():
            break
        if not (bag / "metadata.yaml").is_file():  # a node failed to start (a loaded machine): the next layout
            failed += 1
            log(f"segment {k}: the bringup ended (exit {rc}) without a bag")
            if failed >= 3:
                raise HRobotError(f"segment {k}: three bringups in a row ended without a bag (see the nodes' output "
                                  f"with `hrobot launch {path}`)")
            k += 1
            continue
        failed = 0
        rec = load_recording(bag, robot="go2", need_joints=False)
        trips = [e for _, e in rec.events if e.get("event") == "safety_trip"]
        duration = read_info(bag).duration_ns * 1e-9
        segments.append({"bag": bag.name, "seed": seed + k, "seconds": round(duration, 1),
                         "wall_s": round(time.monotonic() - t0, 1), "trips": sorted({t.get("detail", "") for t in trips}),
                         "exit_code": rc})
        recorded += duration
        log(f"segment {k}: {duration:.0f} s recorded ({recorded / 60:.1f} of {minutes:g} min), "
            f"{len(trips)} trip(s)")
        k += 1
        if interrupted:
            break
    summary = {"robot": "go2", "bringup": str(bringup), "minutes": round(recorded / 60.0, 2), "seed": seed,
               "topics": NAV_TOPICS, "segments": segments, "interrupted": interrupted}
    (out / "collect.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
