"""One module per scanner report format. Each turns one report item into a
Sighting (a Google key string and where it was seen) or a Skip (why not)."""
