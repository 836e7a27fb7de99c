"""Leaked key strings reported by secret scanners, matched to inventory keys
by fingerprint: the strings themselves are never kept."""
