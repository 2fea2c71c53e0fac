"""Remediation under test: the webhook receiver Alertmanager calls, and the runbooks it starts."""
