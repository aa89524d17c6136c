"""Velocity tracking: the environment (env.py) and one config per robot/task."""
