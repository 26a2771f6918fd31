"""Nexflow executor: runs exactly what one ExecuteRequest says, in a sandbox."""
