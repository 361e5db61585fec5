"""Fan-out: a job hands out one message per unit of work (a cluster), each handled on its own.

With a queue for the fan-out (`settings.fan_out_queues`, set by the stack), the messages go to
SQS in batches of 10 and a worker function handles them one by one (`lambda_entry.run_fan_out`):
one failing message is retried and then dead-lettered while the others carry on. Without one
(the lab, the tests), `dispatch` calls the same handler for each message in turn and records
each failure, so the code a worker runs is the code the lab runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from control_plane.common.aws import sqs
from control_plane.common.settings import ServiceSettings

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

logger = logging.getLogger(__name__)

# The design's SQS message limit (ARCHITECTURE; infra holds every queue to it).
MAX_MESSAGE_BYTES = 256 * 1024
_BATCH = 10  # SendMessageBatch's limit


class FanOutMessage(Protocol):
    """One unit of work: an id for logs and failures, and its body as JSON."""

    @property
    def work_id(self) -> str: ...

    def model_dump_json(self) -> str: ...


class FanOutError(Exception):
    """A message could not be handed out (too large, or SQS refused it)."""


@dataclass
class Dispatched:
    """What `dispatch` did: messages queued, or handled here and how each went."""

    queued: int = 0
    handled: int = 0
    results: list[object] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def dispatch(
    settings: ServiceSettings,
    *,
    queue: str,
    messages: Sequence[FanOutMessage],
    handle: Callable[[FanOutMessage], object],
) -> Dispatched:
    """Queue `messages` on the fan-out `queue`, or, with no queue configured, `handle` each."""
    bodies = [(m.work_id, m.model_dump_json()) for m in messages]
    for work_id, body in bodies:
        if len(body.encode()) > MAX_MESSAGE_BYTES:
            raise FanOutError(
                f"fan-out {queue}: the message for {work_id} is {len(body.encode())} bytes, over "
                f"SQS's {MAX_MESSAGE_BYTES}; split the work or send references instead"
            )
    url = settings.fan_out_queues.get(queue)
    done = Dispatched()
    if url is None:
        for message in messages:
            try:
                done.results.append(handle(message))
                done.handled += 1
            except Exception as exc:  # one unit's failure must not stop the others
                logger.exception("fan-out %s: %s failed; carrying on", queue, message.work_id)
                done.failed[message.work_id] = f"{type(exc).__name__}: {exc}"
        return done
    client = sqs(settings)
    for start in range(0, len(bodies), _BATCH):
        batch = bodies[start : start + _BATCH]
        entries: list[SendMessageBatchRequestEntryTypeDef] = [
            {"Id": str(n), "MessageBody": body} for n, (_, body) in enumerate(batch)
        ]
        try:
            answer = client.send_message_batch(QueueUrl=url, Entries=entries)
        except (ClientError, BotoCoreError) as exc:
            raise FanOutError(
                f"fan-out {queue}: could not send to {url} ({exc}); {done.queued} of "
                f"{len(bodies)} messages were queued, the job's retry sends them all again"
            ) from exc
        refused = answer.get("Failed", [])
        if refused:
            names = [batch[int(f["Id"])][0] for f in refused]
            raise FanOutError(
                f"fan-out {queue}: SQS refused the messages for {names} "
                f"({refused[0].get('Code')}: {refused[0].get('Message')}); the job's retry "
                "sends them again (their handler is idempotent)"
            )
        done.queued += len(batch)
    return done
