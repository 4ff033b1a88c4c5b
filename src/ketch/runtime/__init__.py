"""ketch-runtime: an OCI runtime (opencontainers/runtime-spec) with runc's command line."""
