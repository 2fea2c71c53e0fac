"""Hand-written fakes for tests: a fake Prometheus HTTP API and its small PromQL evaluator."""
