"""Delivery metrics of the lab: the four DORA keys computed from the GitOps history (docs/metrics.md)."""
