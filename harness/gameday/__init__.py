"""`harness gameday`: a suite of experiments in order, with cooldowns, a budget gate and a time window."""
