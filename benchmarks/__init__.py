"""Scale benchmarks: not part of the test run; each prints its figures as JSON."""
