"""ketchd: a Kubernetes CRI (runtime.v1) server driving containers through an OCI runtime binary."""
