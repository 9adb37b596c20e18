"""Callback jobs on Celery: servers enqueue them, ``whisper-api worker`` processes run them.

With the ``broker_url`` setting (Redis, or RabbitMQ's ``amqp://``), a server keeps a callback
job's audio in ``spool_dir`` (a folder every server and worker mounts) and its row in the shared
database, and sends the job's id to the queue. A worker transcribes it and tries to deliver it
(one task); a refused delivery is tried again by a task of its own, scheduled with the retry
delay. Workers acknowledge a task only when it has finished (``acks_late``) and take one at a
time per slot, so the task of a worker killed mid-way goes to another once the broker's
visibility timeout has passed; the job's row says how far it got, so a run again never
transcribes (or counts) a stored result twice.
"""

from __future__ import annotations

import asyncio

import redis
from celery import Celery
from kombu.exceptions import ChannelError, KombuError

from whisper_api.errors import SettingsError, WhisperApiError
from whisper_api.server.delivery import ATTEMPT_TIMEOUT, retry_delay
from whisper_api.settings import Settings, is_redis_url

QUEUE = "whisper-api"
TRANSCRIBE_TASK, DELIVER_TASK = "whisper_api.transcribe_job", "whisper_api.deliver_job"
BATCH_TASK = "whisper_api.batch_file"
REQUESTS_QUEUE, REQUEST_TASK = "whisper-api-requests", "whisper_api.transcribe_request"
"""Servers' synchronous requests (``serve --remote-workers``): a queue workers read before the other."""
RESULT_SECONDS = 7 * 86400
"""How long a batch file's result waits on Redis for its submitter (a rerun within this fetches it)."""
MARGIN_SECONDS = 10.0
SWEEP_SECONDS = 10.0
"""How often a worker looks for tasks whose worker vanished (at most; sooner for short timeouts)."""
BROKER_SOCKET_SECONDS = 30.0
"""A broker that does not answer within this fails the call instead of holding it forever."""


class QueueUnavailable(WhisperApiError):
    """The broker did not take the task."""


def longest_wait(settings: Settings) -> float:
    """Seconds: the longest a task is scheduled to wait, a delivery's next attempt or a task run again
    after a passing fault (the database away), which waits as deliveries do, doubling."""
    return max(1.0, retry_delay(settings.callback_retry_seconds, settings.callback_attempts))


def visibility_timeout(settings: Settings) -> float:
    """Seconds a task may stay unacknowledged before the broker hands it to another worker. The broker
    counts from when a worker takes the task, and a worker runs every task it takes at once (as many
    threads as slots, one task each), so: the longest wait a task is scheduled after, then the
    longest run (a transcription within the request timeout, or a delivery attempt), then the first
    delivery attempt that follows a transcription."""
    return longest_wait(settings) + max(settings.request_timeout, ATTEMPT_TIMEOUT) + ATTEMPT_TIMEOUT + MARGIN_SECONDS


def celery_app(settings: Settings) -> Celery:
    # No result backend: callback jobs keep their results in the job table, batch files and servers'
    # requests in Redis keys of their own with an expiry (replies), read by whoever waits for them.
    app = Celery("whisper_api", broker=settings.broker_url, set_as_current=False)
    visibility = visibility_timeout(settings)
    app.conf.update(
        task_acks_late=True, worker_prefetch_multiplier=1,
        task_default_queue=QUEUE, task_ignore_result=True,
        broker_connection_retry_on_startup=True, worker_hijack_root_logger=False,
        broker_transport_options={"visibility_timeout": visibility,
                                  "unacked_restore_interval": min(SWEEP_SECONDS, visibility / 10),
                                  "unacked_restore_throttle": 1, "socket_timeout": BROKER_SOCKET_SECONDS,
                                  "queue_order_strategy": "priority",  # the queues in the order a worker names them
                                  "socket_connect_timeout": BROKER_SOCKET_SECONDS})
    return app


def queue_depth(app: Celery, queue: str) -> int:
    """Tasks waiting in ``queue`` (a blocking call to the broker); 0 for a queue not declared yet
    (Redis keeps no empty queue)."""
    with app.connection_for_read() as connection:
        try:
            return int(connection.default_channel.queue_declare(queue, passive=True).message_count)
        except ChannelError:
            return 0


def redis_url(settings: Settings) -> str:
    """The broker's URL, which must be Redis's where results come back (batches, remote workers)."""
    if not is_redis_url(settings.broker_url):
        raise SettingsError("batches and remote workers keep their results on Redis: broker_url must be "
                            "a redis:// or rediss:// URL")
    return settings.broker_url


def replies(settings: Settings) -> redis.Redis:
    """The broker's Redis, where workers leave batch files' results and servers' answers."""
    return redis.Redis.from_url(redis_url(settings), socket_timeout=BROKER_SOCKET_SECONDS,
                                socket_connect_timeout=BROKER_SOCKET_SECONDS)


class CeleryJobQueue:
    """A server's side of the queue: it only sends."""

    def __init__(self, settings: Settings) -> None:
        self.app = celery_app(settings)
        self.stale_after = 2 * visibility_timeout(settings)

    async def enqueue(self, job_id: str) -> None:
        try:
            await asyncio.to_thread(self.app.send_task, TRANSCRIBE_TASK, args=[job_id])
        except KombuError as exc:
            raise QueueUnavailable(f"the task queue did not take the job: {exc}") from None
