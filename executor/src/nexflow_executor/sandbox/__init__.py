"""Sandbox backends behind one protocol (`base.Sandbox`); one backend per module."""
