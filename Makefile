# Two commands on a fresh machine: `make demo` and `make test`.
# Each creates .venv if missing (torch pinned first: plain `torch` pulls the CUDA build),
# builds the ROS 2 workspace with colcon, then runs.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.hrobot-installed
ROS_STAMP := ros_ws/install/.hrobot-built
ROS_SRC := $(shell find ros_ws/src -type f -not -name '*.pyc' 2>/dev/null)

# rclpy loads the ROS 2 middleware from the venv's lib/; MuJoCo renders offscreen through EGL.
export LD_LIBRARY_PATH := $(CURDIR)/$(VENV)/lib:$(CURDIR)/ros_ws/install/hrobot_msgs/lib:$(LD_LIBRARY_PATH)
export MUJOCO_GL ?= egl
export PYTHONUNBUFFERED := 1

.PHONY: demo test test-unit bench venv ros clean

demo: $(STAMP) $(ROS_STAMP)
	$(VENV)/bin/hrobot demo

test: $(STAMP) $(ROS_STAMP)
	$(PY) -m pytest -q

test-unit: $(STAMP) $(ROS_STAMP)  # the fast tier, ~2.5 min (no ROS processes, no training runs)
	$(PY) -m pytest -q -m "not slow"

bench: $(STAMP) $(ROS_STAMP)
	$(VENV)/bin/hrobot bench all --out out/bench

venv: $(STAMP)

# CycloneDDS 0.10.2, what Unitree robots run (0.10 and 11 do not interoperate): the C library from
# Debian (cyclonedds-dev), the Python binding built against it, found through CYCLONEDDS_HOME.
CYCLONEDDS_HOME := $(CURDIR)/$(VENV)/cyclonedds
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(STAMP): pyproject.toml
	test -f /usr/include/dds/dds.h || $(SUDO) apt-get install -y -q cyclonedds-dev \
		|| ($(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q cyclonedds-dev)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	mkdir -p $(CYCLONEDDS_HOME)
	ln -sfn /usr/include $(CYCLONEDDS_HOME)/include
	ln -sfn /usr/bin $(CYCLONEDDS_HOME)/bin
	ln -sfn $$(dirname $$(dpkg -L libddsc0debian | grep 'libddsc.so' | head -1)) $(CYCLONEDDS_HOME)/lib
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	CYCLONEDDS_HOME=$(CYCLONEDDS_HOME) $(PY) -m pip install --quiet -e '.[ros,ros-build,warp,hardware,offline,dev]'
	# tests: Unitree's own message classes and CRC code (its wheel's other dependencies are not needed)
	$(PY) -m pip install --quiet --no-deps unitree-sdk2==1.0.1
	# OGBench's environments (its point maze checks the offline learners): without dm_control, which pins MuJoCo 3
	$(PY) -m pip install --quiet --no-deps ogbench==1.2.2
	touch $(STAMP)

# The ROS 2 workspace: an ament_cmake message package and ament_python nodes, built with
# colcon and the ament / rosidl tools from PyPI (no ROS installation needed).
ros: $(ROS_STAMP)

$(ROS_STAMP): $(STAMP) $(ROS_SRC)
	cd ros_ws && CMAKE_PREFIX_PATH=$(CURDIR)/$(VENV) AMENT_PREFIX_PATH=$(CURDIR)/$(VENV) \
		$(CURDIR)/$(VENV)/bin/colcon --log-base log build \
		--cmake-args -DPython3_EXECUTABLE=$(CURDIR)/$(PY) -DBUILD_TESTING=OFF
	touch $(ROS_STAMP)

clean:
	rm -rf $(VENV) build *.egg-info out ros_ws/build ros_ws/install ros_ws/log
