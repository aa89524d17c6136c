"""Robot drivers (installed as `hrobot.hardware`): each a `hrobot.robot_io.RobotInterface` over a robot's own protocol."""
