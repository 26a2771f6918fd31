"""Prometheus metrics, one registry per app (so several apps can live in one test process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

LATENCY_BUCKETS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.calls = Counter(
            "nexflow_calls",
            "Skill calls by skill and final status",
            ["skill", "status"],
            registry=self.registry,
        )
        self.call_latency = Histogram(
            "nexflow_call_duration_seconds",
            "End-to-end latency of skill calls that reached the executor",
            ["skill"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.decisions = Counter(
            "nexflow_policy_decisions",
            "Policy decisions by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.audit_failures = Counter(
            "nexflow_audit_write_failures",
            "Audit appends that failed (the call was refused or flagged)",
            registry=self.registry,
        )

        self.client_disconnects = Counter(
            "nexflow_client_disconnects",
            "HTTP clients that went away mid-body (request_body) or before the answer",
            ["stage"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
