"""The embedded broker (workers/file_broker.py): whole messages, each delivered exactly once."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from queue import Empty
from typing import Any

import pytest
from kombu import Connection

from workers import file_broker


@pytest.fixture
def connection(tmp_path: Path) -> Iterator[Connection]:
    for folder in ("queue", "processed", "control"):
        (tmp_path / folder).mkdir()
    options = {
        "data_folder_in": str(tmp_path / "queue"),
        "data_folder_out": str(tmp_path / "queue"),
        "processed_folder": str(tmp_path / "processed"),
        "control_folder": str(tmp_path / "control"),
    }
    with Connection(f"{file_broker.SCHEME}://localhost/", transport_options=options) as conn:
        yield conn


def drain(channel: Any, queue: str) -> list[Any]:
    out = []
    while True:
        try:
            out.append(channel._get(queue))
        except Empty:
            return out


def test_the_scheme_resolves_to_this_transport(connection: Connection) -> None:
    assert isinstance(connection.transport, file_broker.Transport)


def test_a_message_being_written_is_invisible_to_consumers(
    connection: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A consumer polling while the producer writes (after the file exists) finds nothing.

    kombu's own filesystem transport hands that consumer an empty file: a JSON error that stops
    the worker, and the message is lost.
    """
    producer, consumer = connection.channel(), connection.clone().channel()
    seen_during_write: list[Any] = []
    real_dumps = file_broker.dumps

    def dumps_while_polled(payload: Any) -> str:
        seen_during_write.extend(drain(consumer, "studies"))
        return str(real_dumps(payload))

    monkeypatch.setattr(file_broker, "dumps", dumps_while_polled)
    producer._put("studies", {"n": 1})
    assert seen_during_write == []
    assert drain(consumer, "studies") == [{"n": 1}]
    assert list((Path(connection.transport_options["processed_folder"])).iterdir()) == []


def test_messages_keep_their_queue_and_order(connection: Connection) -> None:
    channel = connection.channel()
    for i in range(5):
        channel._put("cpu" if i % 2 else "studies", {"n": i})
    assert channel._size("studies") == 3 and channel._size("cpu") == 2
    assert drain(channel, "studies") == [{"n": 0}, {"n": 2}, {"n": 4}]
    assert drain(channel, "cpu") == [{"n": 1}, {"n": 3}]


def test_an_undecodable_file_is_dropped_not_raised(
    connection: Connection, caplog: pytest.LogCaptureFixture
) -> None:
    channel = connection.channel()
    queue_folder = Path(connection.transport_options["data_folder_in"])
    (queue_folder / "0_left-by-a-crash.studies.msg").write_bytes(b'{"trunc')
    channel._put("studies", {"n": 1})
    with caplog.at_level(logging.ERROR, logger=file_broker.__name__):
        assert drain(channel, "studies") == [{"n": 1}]
    assert "undecodable" in caplog.text
    assert list(queue_folder.iterdir()) == []


def test_concurrent_consumers_deliver_every_message_exactly_once(connection: Connection) -> None:
    total, received, lock = 400, [], threading.Lock()
    done = threading.Event()

    def consume() -> None:
        channel = connection.clone().channel()
        while True:
            try:
                message = channel._get("cpu")
            except Empty:
                if done.is_set() and channel._size("cpu") == 0:
                    return
                continue
            with lock:
                received.append(message["n"])

    consumers = [threading.Thread(target=consume) for _ in range(3)]
    for t in consumers:
        t.start()
    producer = connection.channel()
    for i in range(total):
        producer._put("cpu", {"n": i})
    done.set()
    for t in consumers:
        t.join(timeout=30)
    assert sorted(received) == list(range(total))
