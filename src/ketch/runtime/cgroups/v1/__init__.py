"""cgroup v1: one module per controller (``apply`` writes linux.resources, ``stats`` reads), and the manager."""
