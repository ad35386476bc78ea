"""The embedded broker: kombu's filesystem transport with atomic hand-over of message files.

kombu's filesystem transport (5.x) creates a message file and then writes into it, and a consumer
takes a message by moving its file to the system temp folder and reading it. A consumer that lists
the folder between the create and the write reads an empty or partial file: the JSON error stops
the worker, and the message is gone. Where the temp folder is on another filesystem the move is a
copy, and two consumers can both deliver one message.

Here a producer writes a hidden file and renames it into place, so consumers see whole messages or
none; a consumer claims a message by renaming it into the ``processed_folder``, which the embedded
settings put beside the queue on the same filesystem, so exactly one consumer wins. A file that
still cannot be decoded is logged and dropped, never raised: the database is the source of truth,
and what such a file carried is recovered from it (the reconciler re-sends a job; an ask times out
with nothing handed out).
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from queue import Empty
from time import monotonic_ns
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import TRANSPORT_ALIASES, filesystem
from kombu.utils.json import dumps, loads

log = logging.getLogger(__name__)

#: The URL scheme of this transport (``optaasfs://``); registered with kombu on import.
SCHEME = "optaasfs"
_MESSAGE_SUFFIX = ".msg"


def _queue_of(filename: str) -> str:
    """``<time>_<uuid>.<queue>.msg`` -> ``<queue>.msg`` (kombu's naming, which ``_size`` reads)."""
    return filename.partition(".")[2]


class Channel(filesystem.Channel):
    # kombu's two base classes name the argument differently (message, payload): no override
    # signature satisfies both, and kombu passes it by position.
    def _put(self, queue: str, message: Any, **kwargs: Any) -> None:  # type: ignore[override]
        # Zero-padded nanoseconds: names sort in sending order (kombu's unpadded milliseconds tie
        # within a millisecond and would misorder when the digit count grows).
        name = f"{monotonic_ns():020d}_{uuid.uuid4()}.{queue}{_MESSAGE_SUFFIX}"
        # A leading dot and no ".msg" ending: no consumer matches the file while it is written.
        partial = os.path.join(self.data_folder_out, f".{uuid.uuid4()}.part")
        try:
            with open(partial, "wb") as f:
                f.write(dumps(message).encode())
            os.replace(partial, os.path.join(self.data_folder_out, name))
        except OSError as exc:
            try:
                os.remove(partial)
            except OSError:
                pass
            raise ChannelError(f"cannot add a message to {queue!r}") from exc

    def _get(self, queue: str, timeout: float | None = None) -> Any:
        wanted = f"{queue}{_MESSAGE_SUFFIX}"
        for filename in sorted(os.listdir(self.data_folder_in)):
            if filename.startswith(".") or _queue_of(filename) != wanted:
                continue
            claimed = os.path.join(self.processed_folder, filename)
            try:
                # Atomic on one filesystem: of several consumers, exactly one renames the file.
                os.rename(os.path.join(self.data_folder_in, filename), claimed)
            except OSError:
                continue  # another consumer claimed it first
            try:
                with open(claimed, "rb") as f:
                    payload = f.read()
            finally:
                if not self.store_processed:
                    os.remove(claimed)
            try:
                return loads(payload.decode())
            except (UnicodeDecodeError, json.JSONDecodeError):
                log.error(
                    "dropped an undecodable message file %s (%d bytes)", filename, len(payload)
                )
        raise Empty()


class Transport(filesystem.Transport):
    Channel = Channel
    driver_type = SCHEME
    driver_name = SCHEME


TRANSPORT_ALIASES[SCHEME] = f"{__name__}:Transport"
