"""Prometheus: a private server for the local platform and a client for any PromQL API."""
