"""The OCI distribution-spec registry: server and client."""
