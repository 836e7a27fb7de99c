"""keysentry: scores an organization's Google Cloud API keys against the Gemini
deadlines and key hygiene rules, and keeps the history."""

__version__ = "0.1.0"
