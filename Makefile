# Two commands on a fresh machine: `make demo` and `make test`.
# Each creates .venv if missing (torch pinned first: plain `torch` pulls the CUDA build).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.hrobot-installed

# rclpy loads the ROS 2 middleware from the venv's lib/; MuJoCo renders offscreen through EGL.
export LD_LIBRARY_PATH := $(CURDIR)/$(VENV)/lib:$(LD_LIBRARY_PATH)
export MUJOCO_GL ?= egl
export PYTHONUNBUFFERED := 1

.PHONY: demo test bench venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[ros,dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/hrobot demo

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(VENV)/bin/hrobot bench all --out out/bench

clean:
	rm -rf $(VENV) build *.egg-info out
