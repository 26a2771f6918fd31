"""Nexflow registry (preview): signed skill packages, a blob store by sha256 and an
RFC 6962/9162 transparency log with signed C2SP checkpoints."""
