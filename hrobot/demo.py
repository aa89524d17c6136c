"""`make demo` / `hrobot demo`: the main job on the embedded default, the simulated robot."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from hrobot.check import check_robot
from hrobot.robots import load_robot
from hrobot.sim.render import render_robot


def stand_demo(robot_name: str, out: Path, console: Console) -> int:
    """Stand the robot under PD in simulation, report what happened and write a picture."""
    robot = load_robot(robot_name)
    console.print(f"[bold]hrobot demo[/bold]: {robot.name} standing under PD control in MuJoCo")
    with console.status("simulating 10 s"):
        rep = check_robot(robot, hold_s=10.0)
    console.print(f"  total mass {rep.total_mass_kg:.2f} kg (published {rep.published_mass_kg} kg)")
    if rep.initial_base_height_m is not None:
        console.print(f"  base height {rep.initial_base_height_m:.3f} m -> static sag {rep.settle_sag_m * 100:.1f} cm, "
                      f"then drift {rep.base_height_drift_m * 100:.2f} cm over {rep.hold_s - 1:g} s")
    console.print(f"  max joint error {rep.max_joint_error_rad:.3f} rad; {'stood' if not rep.fell else 'FELL'}")
    png = out / f"{robot.name}_stand.png"
    render_robot(robot, None, png)
    console.print(f"  picture: {png}")
    return 0 if rep.passed else 1
