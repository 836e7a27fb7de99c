"""History as validity intervals: the writer (what a scan changed, diffed
against the open versions), the state it diffs against (the open keys,
findings and usage), the rows and digests it stores, and its buffer."""
