"""Clients of the systems the lab talks to over an API: Kubernetes and Argo CD."""
