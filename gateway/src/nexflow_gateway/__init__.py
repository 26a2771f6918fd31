"""Nexflow gateway (preview): the connector interface, the LLM tool-calling loop and the
web chat API; it reaches the control plane only over its HTTP API."""
