"""Launch-file helpers: the node set comes from the bringup YAML that `hrobot launch` also runs."""
