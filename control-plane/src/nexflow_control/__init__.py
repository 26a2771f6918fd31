"""Nexflow control plane: HTTP API, SKILL.md model, policy, audit log and the nexflow CLI."""
