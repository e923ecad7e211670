"""Stored responses: saving, per-user lookup, deletion, input-item pages, conversation chains, pruning.

Synchronous database code: async callers run it with `ollamaweb.core.db.run_in_thread`, except
`store`, which async code awaits. Another user's response, a deleted one and one older than the
retention period are all simply not found.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from ollamaweb.core import loop_sqlite
from ollamaweb.core.errors import InvalidRequest, NotFound
from ollamaweb.core.group_commit import GroupCommit

from .models import StoredResponse

PRUNE_BATCH = 5_000


def _retention_cutoff():
    days = settings.RESPONSES_RETENTION_DAYS
    return timezone.now() - timedelta(days=days) if days > 0 else None


def _visible(user_id: int):
    queryset = StoredResponse.objects.filter(user_id=user_id)
    cutoff = _retention_cutoff()
    return queryset.filter(created_at__gte=cutoff) if cutoff is not None else queryset


TABLE = StoredResponse._meta.db_table
COLUMNS = ("id", "user_id", "api_key_id", "model", "status", "previous_response_id", "created_at",
           "input_tokens", "output_tokens", "input_items", "response")  # fmt: skip
# Plain SQL: the ORM's update_or_create (a SELECT, an INSERT, a transaction, json.dumps of both
# JSON fields) doubled the CPU of a Responses request (bench/README.md, issue 14, third pass).
UPSERT = (
    f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))}) "
    f"ON CONFLICT (id) DO UPDATE SET {', '.join(f'{column} = excluded.{column}' for column in COLUMNS[1:])}"
)


@dataclass(frozen=True)
class ResponseRow:
    """A response ready to store: its JSON already serialised (`response_json` is the body the
    client gets, so it is serialised once)."""

    user_id: int
    key_id: int | None
    response: dict
    response_json: bytes
    input_items_json: bytes

    @classmethod
    def of(cls, user_id: int, key_id: int | None, response: dict, input_items: list[dict], response_json=None):
        response_json = response_json if response_json is not None else orjson.dumps(response)
        return cls(user_id, key_id, response, response_json, orjson.dumps(input_items))

    def params(self) -> tuple:
        response, usage = self.response, self.response.get("usage") or {}
        created = connection.ops.adapt_datetimefield_value(datetime.fromtimestamp(response["created_at"], UTC))
        return (
            response["id"],
            self.user_id,
            self.key_id,
            response.get("model", "")[:200],
            response.get("status") or "",
            response.get("previous_response_id") or "",
            created,
            usage.get("input_tokens") or 0,
            usage.get("output_tokens") or 0,
            self.input_items_json.decode(),
            self.response_json.decode(),
        )


def save_response(user_id: int, key_id: int | None, response: dict, input_items: list[dict]) -> None:
    """Store (or replace) a Response object and the input items it was made from."""
    [error] = save_rows([ResponseRow.of(user_id, key_id, response, input_items)])
    if error is not None:
        raise error


def save_rows(rows: list[ResponseRow]) -> list[Exception | None]:
    """Store several responses in one transaction: what each one's saving raised, or None.

    If that transaction fails (a user deleted meanwhile, say), each is stored on its own, so one
    bad row does not lose the others.
    """
    if len(rows) > 1:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.executemany(UPSERT, [row.params() for row in rows])
            return [None] * len(rows)
        except DatabaseError:
            pass
    return [_save_row(row) for row in rows]


def _save_row(row: ResponseRow) -> Exception | None:
    try:
        with connection.cursor() as cursor:  # one statement: a transaction of its own
            cursor.execute(UPSERT, row.params())
    except DatabaseError as exc:
        return exc
    return None


_saving = GroupCommit(save_rows)


async def store(row: ResponseRow) -> None:
    """Store a response from async code, committed when this returns (so the client's next request,
    to any process, finds it). With SQLite: on the event loop's thread when the write lock is free
    or once it is (`loop_sqlite.write_here`; responses finishing in the same pass of the loop share
    one transaction, as do those waiting for the lock), else in the database thread, where responses
    finishing together share one transaction."""
    try:
        return await loop_sqlite.write_here(lambda write: write(row), _storing_here)
    except loop_sqlite.Busy:  # not SQLite, the row refused, the lock stayed taken: the regular path says why
        pass
    error = await _saving.submit(row)
    if error is not None:
        raise error


def _upsert(cursor, row: ResponseRow):
    cursor.execute(UPSERT.replace("%s", "?"), row.params())  # sqlite3's parameter markers


_storing_here = loop_sqlite.PassBatch(_upsert)


def not_found(response_id: str) -> NotFound:
    return NotFound(f"Response with id '{response_id}' not found.", param="response_id", code="response_not_found")


def get_for_user(user_id: int, response_id: str) -> StoredResponse:
    """The user's stored response, or NotFound (also for another user's id)."""
    stored = _visible(user_id).filter(id=response_id).first()
    if stored is None:
        raise not_found(response_id)
    return stored


def delete_for_user(user_id: int, response_id: str) -> None:
    deleted, _ = _visible(user_id).filter(id=response_id).delete()
    if not deleted:
        raise not_found(response_id)


def list_input_items(
    user_id: int, response_id: str, *, after: str | None = None, limit: int = 20, order: str = "desc"
) -> tuple[list[dict], bool]:
    """A page of the response's own input items, as `GET /v1/responses/{id}/input_items` pages them:
    `order` desc (newest first, the default) or asc, `limit` 1–100, starting after the item `after`."""
    if order not in ("asc", "desc"):
        raise InvalidRequest(
            f"Invalid value for 'order': {order!r}; expected 'asc' or 'desc'.", param="order", code="invalid_value"
        )
    if not 1 <= limit <= 100:
        raise InvalidRequest(
            f"Invalid value for 'limit': {limit}; expected an integer from 1 to 100.",
            param="limit",
            code="invalid_value",
        )
    items = list(get_for_user(user_id, response_id).input_items)
    if order == "desc":
        items.reverse()
    if after:
        ids = [item.get("id") for item in items]
        if after not in ids:
            raise InvalidRequest(
                f"Invalid value for 'after': no input item '{after}' in response '{response_id}'.",
                param="after",
                code="invalid_value",
            )
        items = items[ids.index(after) + 1 :]
    return items[:limit], len(items) > limit


def previous_not_found(response_id: str) -> InvalidRequest:
    return InvalidRequest(
        f"Previous response with id '{response_id}' not found.",
        param="previous_response_id",
        code="previous_response_not_found",
    )


# The chain ending at a response, newest first, in one query (one query per response cost 0.9 ms
# each: 46 ms a request in a 50-turn conversation). `previous_response_id` is '' at its start.
CHAIN = f"""
WITH RECURSIVE chain (id, previous_response_id, input_items, response, depth) AS (
    SELECT id, previous_response_id, input_items, response, 1 FROM {TABLE} WHERE id = %s AND {{visible}}
    UNION ALL
    SELECT r.id, r.previous_response_id, r.input_items, r.response, chain.depth + 1
    FROM {TABLE} r JOIN chain ON r.id = chain.previous_response_id
    WHERE chain.depth < %s AND {{visible}}
)
SELECT id, previous_response_id, input_items, {{output}} FROM chain ORDER BY depth
"""
# Only a response's `output` is read back from its JSON (which also holds the instructions and
# tools it was asked with: often most of it).
OUTPUT = {"postgresql": "response -> 'output'"}
OUTPUT_SQLITE = "json_extract(response, '$.output')"


def _chain_query(user_id: int, response_id: str, max_depth: int) -> tuple[str, list]:
    visible, visible_params = "user_id = %s", [user_id]
    cutoff = _retention_cutoff()
    if cutoff is not None:
        visible += " AND created_at >= %s"
        visible_params.append(connection.ops.adapt_datetimefield_value(cutoff))
    query = CHAIN.format(visible=visible, output=OUTPUT.get(connection.vendor, OUTPUT_SQLITE))
    return query, [response_id, *visible_params, max_depth, *visible_params]


def conversation_items(user_id: int, previous_response_id: str, max_depth: int | None = None) -> list[dict]:
    """The conversation before a new turn: every response of the chain ending at
    `previous_response_id`, oldest first, each contributing its input items then its output items.

    Instructions are not carried over (they are not input items). A response missing from the chain
    (unknown, another user's, deleted or expired) is a 400 `previous_response_not_found` naming it:
    the conversation is refused rather than silently shortened.
    """
    max_depth = max_depth or settings.RESPONSES_MAX_CHAIN
    with connection.cursor() as cursor:
        cursor.execute(*_chain_query(user_id, previous_response_id, max_depth))
        rows = cursor.fetchall()
    chain: list[tuple[str, str | None]] = []  # (input items, output) as JSON, newest first
    seen: set[str] = set()
    next_id = previous_response_id
    for response_id, previous, input_items, output in rows:
        if response_id in seen:  # cannot happen with generated ids; never loop
            break
        chain.append((input_items, output))
        seen.add(response_id)
        next_id = previous
    else:
        if next_id and len(chain) >= max_depth:
            raise InvalidRequest(
                f"The conversation ending at '{previous_response_id}' is longer than this server's limit of "
                f"{max_depth} responses; start a new one with the history as 'input'.",
                param="previous_response_id",
                code="conversation_too_long",
            )
        if next_id:
            raise previous_not_found(next_id)
    items: list[dict] = []
    for input_items, output in reversed(chain):
        items += orjson.loads(input_items)
        items += orjson.loads(output or "null") or []
    return items


def prune_expired(now=None) -> int:
    """Delete responses older than RESPONSES_RETENTION_DAYS (0 keeps them forever), in batches."""
    days = settings.RESPONSES_RETENTION_DAYS
    if days <= 0:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    deleted = 0
    while True:
        ids = list(StoredResponse.objects.filter(created_at__lt=cutoff).values_list("pk", flat=True)[:PRUNE_BATCH])
        if not ids:
            return deleted
        deleted += StoredResponse.objects.filter(pk__in=ids).delete()[0]
