"""Redis commands asked for in one pass of the event loop, sent together on one connection.

A quota reservation is one script call and a release two commands. Through redis-py's client each
call cost the event loop ~110–190 µs of CPU (a pooled connection taken and given back, a write and
a read system call, its retry and deprecation wrappers), and a burst of 1,000 streams paid that
1,000 times before its last request reached the backend: admission was most of the wait for its
first token (bench/README.md, ninth pass). The calls of one pass go out in one write on one
connection and their replies are read in order: ~40 µs each, and one round trip for all.
"""

import asyncio

from redis.exceptions import NoScriptError, ResponseError

from .tasks import spawn, to_the_end


class PassPipeline:
    """The Redis calls of one event loop (one instance per loop), each pass's sent as one pipeline.

    One pipeline is in flight at a time: the calls asked for meanwhile wait for its replies and go
    out together next. Under a burst the loop is busy and every await costs a pass of it, so more
    calls per round trip matter more than parallel round trips (and each extra connection costs
    a handshake of several round trips); Redis runs the scripts one at a time anyway.

    `pool` is the loop's redis-py connection pool, `slots` the semaphore that keeps its users
    within the pool's size, `scripts` the text of every script called by its SHA1 (EVALSHA): a
    Redis that lost them (a restart, SCRIPT FLUSH) is given them again and the calls are resent.
    """

    def __init__(self, pool, slots: asyncio.Semaphore, scripts: list[str]):
        self._pool, self._slots, self._scripts = pool, slots, scripts
        self._waiting: list | None = None  # the calls not sent yet: [(commands, future)]
        self._in_flight = False

    async def call(self, *commands: tuple) -> list:
        """The replies to `commands`, sent at the end of this pass with the others asked for in it.

        An error reply raises its ResponseError, a failed connection its ConnectionError. Once
        asked, the commands are sent whether or not the caller still waits: a cancelled caller
        gets CancelledAfterward (core/tasks.py) with the replies, to undo what they did."""
        loop = asyncio.get_running_loop()
        if self._waiting is None:
            self._waiting = []
            if not self._in_flight:
                loop.call_soon(self._send_waiting)
        future = loop.create_future()
        self._waiting.append((commands, future))
        return await to_the_end(future)

    def _send_waiting(self):
        batch, self._waiting = self._waiting, None
        self._in_flight = True
        spawn(self._send(batch), name="redis pass pipeline")

    async def _send(self, batch: list):
        try:
            async with self._slots:
                replies = await self._exchange([command for commands, _ in batch for command in commands])
        except Exception as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        except BaseException:  # the loop is stopping: nothing more is sent
            for _, future in batch + (self._waiting or []):
                future.cancel()
            self._waiting = None
            raise
        finally:
            self._in_flight = False
            if self._waiting is not None:  # asked for while this pipeline was in flight
                self._send_waiting()
        start = 0
        for commands, future in batch:
            mine = replies[start : start + len(commands)]
            start += len(commands)
            if future.done():
                continue
            error = next((reply for reply in mine if isinstance(reply, ResponseError)), None)
            if error is None:
                future.set_result(mine)
            else:
                future.set_exception(error)

    async def _exchange(self, commands: list[tuple]) -> list:
        """Every command's reply (an error reply as its ResponseError), on one pooled connection."""
        connection = await self._pool.get_connection()
        try:
            replies = await _round_trip(connection, commands)
            unknown = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
            if unknown:
                await _round_trip(connection, [("SCRIPT", "LOAD", script) for script in self._scripts])
                for i, reply in zip(unknown, await _round_trip(connection, [commands[i] for i in unknown])):
                    replies[i] = reply
            return replies
        except BaseException:
            await connection.disconnect()  # replies may still be on their way: nobody else may read them
            raise
        finally:
            await self._pool.release(connection)


async def _round_trip(connection, commands: list[tuple]) -> list:
    await connection.send_packed_command(connection.pack_commands(commands))
    replies = []
    for _ in commands:
        try:
            replies.append(await connection.read_response())
        except ResponseError as error:
            replies.append(error)
    return replies
