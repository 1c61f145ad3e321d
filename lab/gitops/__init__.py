"""The GitOps repository: the working clone, its transaction, overlays and trailers (import from the modules)."""
