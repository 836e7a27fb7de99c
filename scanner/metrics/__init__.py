"""Prometheus metrics, built afresh from the store on each scrape."""
