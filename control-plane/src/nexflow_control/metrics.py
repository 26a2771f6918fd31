"""Prometheus metrics, one registry per app (so several apps can live in one test process)."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from .executors import ExecutorState

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

        self.executor_up = Gauge(
            "nexflow_executor_up",
            "1 when the executor answered its last health check",
            ["executor"],
            registry=self.registry,
        )
        self.executor_slots = Gauge(
            "nexflow_executor_slots",
            "Call slots an executor reports: total (0 = no limit) and busy",
            ["executor", "state"],
            registry=self.registry,
        )
        self.executor_draining = Gauge(
            "nexflow_executor_draining",
            "1 while the executor drains (it takes no new calls)",
            ["executor"],
            registry=self.registry,
        )
        self.executor_inflight = Gauge(
            "nexflow_executor_inflight",
            "Calls this control plane is running on the executor",
            ["executor"],
            registry=self.registry,
        )
        self.executor_pool = Gauge(
            "nexflow_executor_pool",
            "An executor's warm pool: ready sandboxes and the profiles they are kept for",
            ["executor", "state"],
            registry=self.registry,
        )
        self.executor_queue = Gauge(
            "nexflow_executor_queue",
            "Calls waiting for a free executor slot now",
            registry=self.registry,
        )
        self.executor_kills = Counter(
            "nexflow_executor_kills",
            "Calls an executor ended before their script did, by reason",
            ["executor", "reason"],
            registry=self.registry,
        )

    def observe_executors(self, states: Iterable[ExecutorState]) -> None:
        """Set the executor gauges from their current states."""
        for s in states:
            self.executor_up.labels(executor=s.name).set(int(s.healthy))
            self.executor_slots.labels(executor=s.name, state="total").set(s.slots_total)
            self.executor_slots.labels(executor=s.name, state="busy").set(s.slots_busy)
            self.executor_draining.labels(executor=s.name).set(int(s.draining))
            self.executor_inflight.labels(executor=s.name).set(s.inflight)
            self.executor_pool.labels(executor=s.name, state="ready").set(s.pool_ready)
            self.executor_pool.labels(executor=s.name, state="profiles").set(s.pool_profiles)

    def render(self) -> bytes:
        return generate_latest(self.registry)
