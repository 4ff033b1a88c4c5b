"""Command lines: ``ketch`` (users), ``ketch-runtime`` (runc-compatible), ``ketchd`` (the CRI daemon)."""
