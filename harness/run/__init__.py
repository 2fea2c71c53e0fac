"""Running an experiment: platform, load, timeline, faults, evidence, verdict."""
