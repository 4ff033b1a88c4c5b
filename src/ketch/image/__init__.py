"""Images: content store, OCI layouts and archives, layers, snapshots, bundles (opencontainers/image-spec)."""
