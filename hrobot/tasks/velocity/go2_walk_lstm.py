"""go2_walk_lstm: go2_walk with an LSTM actor (memory of the gait and terrain from proprioception).

Same environment, observation layout and command interface as go2_walk; the exported bundle
carries the LSTM state as extra ONNX inputs/outputs, which the runtime threads through.
"""

from __future__ import annotations

from hrobot.tasks import ppo_cfg
from hrobot.tasks.velocity.go2_walk import KIND, env_cfg, make_env  # noqa: F401


def train_cfg() -> dict:
    return ppo_cfg(hidden=(256, 128), recurrent="lstm", rnn_hidden_dim=128)
