"""Delivery channels, one module each: email (SMTP) and webhook (HTTP POST)."""
