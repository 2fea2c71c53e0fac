"""What people read: the console summary and progress line, the text of `harness plan`."""
