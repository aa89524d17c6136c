"""Goal-conditioned navigation over frozen skills: the environment (env.py) and one config per robot/task."""
