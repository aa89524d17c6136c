"""hrobot ROS 2 nodes. Each node is a thin wrapper: the control logic lives in the hrobot package."""
