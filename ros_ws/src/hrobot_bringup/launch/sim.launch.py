"""sim bringup: the nodes of deploy/ROBOT/sim.yaml (the same file `hrobot launch` runs).

ros2 launch hrobot_bringup sim.launch.py robot:=go2 high_level:=true
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from hrobot_bringup.bringup import bringup_path, node_descriptions

KIND = "sim"


def _nodes(context, *args, **kwargs):
    arg = lambda name: LaunchConfiguration(name).perform(context)  # noqa: E731
    path = bringup_path(arg("robot"), KIND, arg("bringup"))
    return [
        Node(package="hrobot_ros", executable=n.executable, name=n.name, parameters=[n.parameters], output="screen")
        for n in node_descriptions(path, high_level=arg("high_level") == "true", skill_bundle=arg("skill_bundle"),
                                   planner_bundle=arg("planner_bundle"))
    ]


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument("robot", default_value="go2", description="robot (deploy/ROBOT/sim.yaml)"),
        DeclareLaunchArgument("bringup", default_value="", description="bringup YAML (overrides robot)"),
        DeclareLaunchArgument("high_level", default_value="true", description="start the goal planner"),
        DeclareLaunchArgument("skill_bundle", default_value="", description="low-level bundle override"),
        DeclareLaunchArgument("planner_bundle", default_value="", description="high-level bundle override"),
        OpaqueFunction(function=_nodes),
    ])
