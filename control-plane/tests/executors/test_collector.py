"""Collector: an Execute stream of real protobuf events gathered into an Outcome, the
output capped per stream and copied at most once."""

from __future__ import annotations

from nexflow.executor.v1 import executor_pb2 as pb
from nexflow_control.executors import KillReason
from nexflow_control.executors._proto import Collector


def _out(stream: int, data: bytes) -> pb.ExecuteEvent:
    return pb.ExecuteEvent(output=pb.Output(stream=stream, data=data))


def _finished() -> pb.ExecuteEvent:
    return pb.ExecuteEvent(
        finished=pb.Finished(exit_code=0, kill_reason=pb.KILL_REASON_NONE, wall_time_ms=7)
    )


def test_chunks_are_joined_per_stream_and_capped_at_the_output_cap() -> None:
    c = Collector(output_cap=10)
    c.add(pb.ExecuteEvent(started=pb.Started(call_id="c1", backend=pb.BACKEND_NSJAIL)))
    for event in (
        _out(pb.STREAM_STDOUT, b"abcd"),
        _out(pb.STREAM_STDERR, b"E1"),
        _out(pb.STREAM_STDOUT, b"efgh"),
        _out(pb.STREAM_STDOUT, b"ijklmn"),  # 2 bytes of room left
        _out(pb.STREAM_STDOUT, b"zzz"),  # none
        _out(pb.STREAM_STDERR, b"E2"),
    ):
        c.add(event)
    c.add(_finished())
    outcome = c.outcome("local")
    assert outcome is not None
    assert outcome.stdout == b"abcdefghij"
    assert outcome.stderr == b"E1E2"
    assert outcome.kill_reason is KillReason.NONE
    assert outcome.backend == "nsjail"
    assert outcome.usage.wall_time_ms == 7


def test_an_output_in_one_chunk_is_not_copied() -> None:
    c = Collector(output_cap=1 << 20)
    c.add(_out(pb.STREAM_STDOUT, b"x" * 70_000))
    (received,) = c.stdout  # the bytes read out of the message, once
    c.add(_finished())
    outcome = c.outcome("local")
    assert outcome is not None
    assert outcome.stdout is received
    assert len(received) == 70_000
    assert outcome.stderr == b""


def test_no_finished_event_is_no_outcome() -> None:
    c = Collector(output_cap=10)
    c.add(_out(pb.STREAM_STDOUT, b"partial"))
    assert c.outcome("local") is None
