"""Nexflow gateway: chat connectors and the LLM loop (not built yet; see the issues)."""
