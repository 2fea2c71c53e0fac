"""`harness gate`: run a set of experiments as one pre-release check and answer with one exit code."""
