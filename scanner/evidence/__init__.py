"""The evidence pack: a self-contained folder of history over a window."""
