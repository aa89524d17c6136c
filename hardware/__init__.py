"""Robot drivers (installed as `hrobot.hardware`): each a `hrobot.robot_io.RobotInterface` over a robot's own protocol.

`open_robot(name, robot, options)` builds one by interface name (what the ROS `robot_driver` node's
`interface` parameter names); `hrobot.hardware.process.DriverProcess` runs one in a process of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hrobot.errors import HRobotError
from hrobot.robot_io import RobotInterface
from hrobot.safety import SafetyConfig
from hrobot.spec import RobotSpec

# interface name -> (robot class it drives, needs a process of its own: DDS apart from rclpy)
INTERFACES = {"unitree_go2": ("quadruped", True), "unitree_g1": ("humanoid", True), "leap_hand": ("hand", False)}


@dataclass(frozen=True)
class DriverOptions:
    """What a driver needs beyond the robot spec (the robot_driver node's parameters)."""

    safety: SafetyConfig = field(default_factory=SafetyConfig)
    domain: int = 0  # Unitree: DDS domain
    network_interface: str = ""  # Unitree: the NIC wired to the robot
    kinematics: str = ""  # Unitree: leg kinematics JSON (`hrobot robots kinematics`) for the base estimator
    scan: bool = False  # Unitree: read the simulated device's range scans
    port: str = ""  # LEAP: the serial port of the Dynamixel bus


def open_robot(interface: str, robot: RobotSpec, options: DriverOptions) -> RobotInterface:
    """A hardware driver by interface name, not connected yet."""
    if interface not in INTERFACES:
        raise HRobotError(f"interface '{interface}': expected one of {', '.join(INTERFACES)}")
    robot_class = INTERFACES[interface][0]
    if robot.robot_class != robot_class:
        raise HRobotError(f"interface '{interface}' drives a {robot_class}; robot {robot.name} is a {robot.robot_class}")
    if interface == "leap_hand":
        from hrobot.hardware.dynamixel.leap import LeapConfig, LeapHand

        if not options.port:
            raise HRobotError("interface 'leap_hand' needs a serial port (parameter 'port')")
        return LeapHand(robot, LeapConfig(port=options.port), options.safety)
    from hrobot.hardware.unitree.lowlevel import UnitreeConfig, UnitreeLowLevel

    kin = None
    if options.kinematics:
        from hrobot.estimator import ChainKinematics
        from hrobot.files import read_yaml  # JSON is YAML

        kin = read_yaml(Path(options.kinematics), what="leg kinematics file")
        try:
            feet = ChainKinematics(kin).names
        except (KeyError, TypeError, ValueError, IndexError) as e:
            raise HRobotError(f"{options.kinematics}: not a leg kinematics file (`hrobot robots kinematics` writes "
                              f"one): {type(e).__name__} {e}") from None
        if list(feet) != list(robot.feet):  # the order foot contacts come in
            raise HRobotError(f"{options.kinematics}: feet {feet}, expected {robot.name}'s {list(robot.feet)}")
    return UnitreeLowLevel(robot, UnitreeConfig(domain=options.domain, network_interface=options.network_interface,
                                                kinematics=kin, scan=options.scan), options.safety)
