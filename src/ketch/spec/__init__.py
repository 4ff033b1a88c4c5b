"""Pure data models of the OCI runtime, image and distribution specs, and of CRI. No I/O."""
