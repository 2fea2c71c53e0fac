"""The kubernetes platform: a cluster reached through the `kubernetes` client the way chaosk8s reaches it."""
