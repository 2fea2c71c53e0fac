"""Fault drivers: each fault is prepared (targets chosen, undo recipe known), journalled, then applied."""
