"""Earlier runs: the history folder, and comparing a run's figures with a baseline taken from it."""
