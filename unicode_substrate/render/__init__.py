"""placeholder package; filled in by its issue."""
