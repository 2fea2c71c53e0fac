"""The embedded local platform: demo shop replicas, supervisor, fault proxy, Caddy edge.

Import the parts from their modules (`harness.platform.local.stack.LocalStack`); this package stays
empty so each replica process starts without loading the rest.
"""
