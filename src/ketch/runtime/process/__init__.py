"""The processes that build a container: the parent (``create``), a short-lived child, and the init."""
