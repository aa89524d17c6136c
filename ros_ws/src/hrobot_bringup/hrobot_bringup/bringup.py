"""Read a bringup YAML (validated by hrobot.deploy) into the node list the launch files start."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hrobot.deploy import REPO, add_on_request, load_bringup


@dataclass
class NodeDescription:
    name: str
    executable: str
    parameters: dict


def bringup_path(robot: str, kind: str, explicit: str = "") -> Path:
    """deploy/<robot>/<kind>.yaml unless a bringup file is given explicitly."""
    return Path(explicit) if explicit else REPO / "deploy" / robot / f"{kind}.yaml"


def node_descriptions(path: str | Path, high_level: bool = True, skill_bundle: str = "",
                      planner_bundle: str = "", record: str | None = None, live: bool = False) -> list[NodeDescription]:
    b = add_on_request(load_bringup(path), record, live)
    nodes = []
    for name, params in b.nodes.items():
        if name == "goal_planner" and not high_level:
            continue
        params = dict(params)
        if name == "skill_controller" and skill_bundle:
            params["bundle"] = str(Path(skill_bundle).resolve())
        if name == "goal_planner" and planner_bundle:
            params["bundle"] = str(Path(planner_bundle).resolve())
        nodes.append(NodeDescription(name=name, executable=name, parameters=params))
    return nodes


def launch_description(kind: str):
    """The LaunchDescription of deploy/ROBOT/<kind>.yaml, with its launch arguments (ROS 2 `launch` API)."""
    from launch import LaunchDescription
    from launch.actions import DeclareLaunchArgument, OpaqueFunction
    from launch.substitutions import LaunchConfiguration
    from launch_ros.actions import Node

    def nodes(context, *args, **kwargs):
        arg = lambda name: LaunchConfiguration(name).perform(context)  # noqa: E731
        path = bringup_path(arg("robot"), kind, arg("bringup"))
        return [
            Node(package="hrobot_ros", executable=n.executable, name=n.name, parameters=[n.parameters], output="screen")
            for n in node_descriptions(path, high_level=arg("high_level") == "true",
                                       skill_bundle=arg("skill_bundle"), planner_bundle=arg("planner_bundle"),
                                       record=None if arg("record") == "false" else
                                       ("" if arg("record") == "true" else arg("record")),
                                       live=arg("live") == "true")
        ]

    return LaunchDescription([
        DeclareLaunchArgument("robot", default_value="go2", description=f"robot (deploy/ROBOT/{kind}.yaml)"),
        DeclareLaunchArgument("bringup", default_value="", description="bringup YAML (overrides robot)"),
        DeclareLaunchArgument("high_level", default_value="true", description="start the goal planner"),
        DeclareLaunchArgument("skill_bundle", default_value="", description="low-level bundle override"),
        DeclareLaunchArgument("planner_bundle", default_value="", description="high-level bundle override"),
        DeclareLaunchArgument("record", default_value="false",
                              description="true (a new bag under bags/), a bag folder, or false"),
        DeclareLaunchArgument("live", default_value="false", description="the Foxglove live view (ws://127.0.0.1:8765)"),
        OpaqueFunction(function=nodes),
    ])
