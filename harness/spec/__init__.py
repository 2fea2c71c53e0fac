"""The experiment file format (`harness/v1`): units, typed models, loading and validation."""
