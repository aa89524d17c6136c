"""Recordings and datasets: rosbag2 MCAP bags (write, read, recover), dataset export, replay and plots."""

# What `hrobot record` and the bringups' recorder record by default: the robot's state at its rate,
# the commands before and after safety, the task commands of every source and the active one, goals,
# odometry, IMU, scans, diagnostics, and /events (trips, e-stops, episode marks, source changes).
DEFAULT_TOPICS = ["/joint_states", "/joint_commands", "/joint_commands/applied", "/cmd_vel", "/teleop/cmd_vel",
                  "/cmd_source", "/goal_pose", "/odom", "/imu", "/scan_low", "/scan_high", "/diagnostics", "/events"]
# What the Foxglove live view streams by default.
LIVE_TOPICS = ["/joint_states", "/odom", "/imu", "/cmd_vel", "/teleop/cmd_vel", "/cmd_source", "/goal_pose",
               "/scan_low", "/scan_high", "/diagnostics", "/events"]
