"""real bringup: the nodes of deploy/ROBOT/real.yaml, the file `hrobot launch` also runs.

ros2 launch hrobot_bringup real.launch.py robot:=go2 high_level:=true
"""

from hrobot_bringup.bringup import launch_description


def generate_launch_description():
    return launch_description("real")
