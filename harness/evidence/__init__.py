"""Evidence: counting events, checking scrape health and reading Prometheus answers for verdicts."""
