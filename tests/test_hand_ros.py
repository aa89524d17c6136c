"""A manipulation skill through ROS 2 on the simulated hand: the object's pose arrives on /object_pose (a tracker's,
palm frame); a pose in another frame, a non-unit quaternion or a pose stream that stops makes the skill hold its
last targets (reported on /diagnostics), and it runs again once valid poses come."""

from __future__ import annotations

import time

import numpy as np

from ros_harness import Launched, bringup_file


def test_the_hand_skill_holds_on_a_bad_or_missing_object_pose_and_resumes(tmp_path, hand_bundle):
    from geometry_msgs.msg import PoseStamped
    from hrobot_msgs.msg import JointCommand

    f = bringup_file(tmp_path, {
        "robot_driver": {"robot": "leap_hand", "scene": "hand_object", "state_rate_hz": 200.0, "object_rate_hz": 0.0},
        "skill_controller": {"bundle": str(hand_bundle)}})
    ros = Launched(f)
    try:
        diag = ros.diagnostics()
        cmds = ros.subscribe("/joint_commands", JointCommand, qos=10)
        tracker = ros.node.create_publisher(PoseStamped, "/object_pose", 10)

        def stream(until, frame="palm", quat=(1.0, 0.0, 0.0, 0.0), timeout=10.0):
            """A 50 Hz tracker publishing one pose until `until()` holds (diagnostics come at 1 Hz)."""
            msg = PoseStamped()
            msg.header.frame_id = frame
            msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = -0.034, 0.031, 0.066
            msg.pose.orientation.w, msg.pose.orientation.x, msg.pose.orientation.y, msg.pose.orientation.z = quat
            end = time.monotonic() + timeout
            while not until() and time.monotonic() < end:
                tracker.publish(msg)
                ros.spin(0.02)
            return until()

        message = lambda: diag("skill_controller").get("message", "")  # noqa: E731
        running = lambda: message() == "policy, safety ok"  # noqa: E731
        ros.wait_for(lambda: message().startswith("policy"), 60, lambda: f"the policy: {diag('skill_controller')}")
        assert "holding: no object pose" in message(), message()  # no pose yet: the hand stays in its home pose
        assert stream(running), message()
        refusals = (("world", (1.0, 0.0, 0.0, 0.0), "/object_pose in frame 'world', expected 'palm'"),
                    ("palm", (0.5, 0.0, 0.0, 0.0), "/object_pose quaternion norm 0.500, expected a unit quaternion"))
        for frame, quat, _ in refusals:
            assert stream(lambda: "holding: stale object pose" in message(), frame, quat), message()  # refused
            n = len(cmds)
            assert stream(lambda: len(cmds) > n + 5, frame, quat)
            held = np.array([c.position for _, c in cmds[n:]])
            assert np.ptp(held, axis=0).max() < 1e-6  # the same targets, period after period
            assert stream(running), message()
        ros.wait_for(lambda: "holding: stale object pose" in message(), 5, "a hold when the tracker stops")
        assert diag("robot_driver").get("message") == "ok", diag("robot_driver")  # held, never damped
    finally:
        _, out = ros.stop()
    for *_, why in refusals:
        assert f"{why}; ignored" in out, out  # one line naming the problem
