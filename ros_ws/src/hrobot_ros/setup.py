from setuptools import setup

package_name = "hrobot_ros"
setup(
    name=package_name,
    version="0.1.0",
    packages=[package_name],
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{package_name}"]),
        (f"share/{package_name}", ["package.xml"]),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="hrobot developers",
    maintainer_email="dev@hrobot.dev",
    description="hrobot ROS 2 nodes",
    license="Apache-2.0",
    entry_points={"console_scripts": [
        "robot_driver = hrobot_ros.robot_driver:main",
        "skill_controller = hrobot_ros.skill_controller:main",
        "goal_planner = hrobot_ros.goal_planner:main",
        "explorer = hrobot_ros.explorer:main",
        "reorient_planner = hrobot_ros.reorient_planner:main",
        "teleop = hrobot_ros.teleop:main",
        "recorder = hrobot_ros.recorder:main",
        "foxglove_bridge = hrobot_ros.foxglove_bridge:main",
    ]},
)
