"""core/redis_pass.py: the Redis calls of one pass of the event loop go out as one pipeline."""

import asyncio

import redis.asyncio as redis
from redis.exceptions import ConnectionError, ResponseError

from ollamaweb.core import redis_pass
from tests.services import redis_url_or_skip

KEY = "ollamaweb:test:redis_pass"
SCRIPT = "return redis.call('INCRBY', KEYS[1], ARGV[1])"


def run(scenario, url: str | None = None):
    """`scenario(pipeline, client, round_trips)` on a fresh pool; round_trips lists each round trip's commands."""

    async def main():
        client = redis.Redis.from_url(url or redis_url_or_skip(), socket_timeout=2, socket_connect_timeout=1)
        pipeline = redis_pass.PassPipeline(client.connection_pool, asyncio.Semaphore(4), [SCRIPT])
        round_trips = []
        sent = redis_pass._round_trip

        async def counted(connection, commands):
            round_trips.append([command[0] for command in commands])
            return await sent(connection, commands)

        redis_pass._round_trip = counted
        try:
            if url is None:
                await client.delete(KEY, KEY + ":hash")
            return await scenario(pipeline, client, round_trips)
        finally:
            redis_pass._round_trip = sent
            if url is None:
                await client.delete(KEY, KEY + ":hash")
            await client.aclose()

    return asyncio.run(main())


def test_the_calls_of_one_pass_share_one_round_trip_and_each_gets_its_replies():
    async def scenario(pipeline, client, round_trips):
        together = await asyncio.gather(*(pipeline.call(("INCRBY", KEY, n), ("GET", KEY)) for n in (1, 10, 100)))
        alone = await pipeline.call(("INCRBY", KEY, 1000))
        return together, alone, round_trips

    together, alone, round_trips = run(scenario)
    assert together == [[1, b"1"], [11, b"11"], [111, b"111"]]  # in the order asked, each its own replies
    assert alone == [1111]
    assert round_trips == [["INCRBY", "GET"] * 3, ["INCRBY"]]


def test_the_calls_asked_while_a_pipeline_is_in_flight_go_together_in_the_next():
    async def scenario(pipeline, client, round_trips):
        counted = redis_pass._round_trip

        async def slow(connection, commands):
            replies = await counted(connection, commands)
            await asyncio.sleep(0.1)  # this pipeline's replies are still on their way
            return replies

        redis_pass._round_trip = slow
        first = asyncio.ensure_future(pipeline.call(("INCRBY", KEY, 1)))
        await asyncio.sleep(0.05)
        later = [asyncio.ensure_future(pipeline.call(("INCRBY", KEY, 10))) for _ in range(2)]
        await asyncio.sleep(0.01)  # more passes of the loop: still nothing sent
        later.append(asyncio.ensure_future(pipeline.call(("INCRBY", KEY, 100))))
        return await asyncio.gather(first, *later), round_trips

    replies, round_trips = run(scenario)
    assert replies == [[1], [11], [21], [121]]
    assert round_trips == [["INCRBY"], ["INCRBY"] * 3]


def test_an_error_reply_fails_only_its_call():
    async def scenario(pipeline, client, round_trips):
        await client.hset(KEY + ":hash", "field", 1)
        return await asyncio.gather(
            pipeline.call(("INCRBY", KEY, 5)),
            pipeline.call(("INCRBY", KEY + ":hash", 1)),  # WRONGTYPE
            pipeline.call(("INCRBY", KEY, 5)),
            return_exceptions=True,
        )

    first, failed, last = run(scenario)
    assert (first, last) == ([5], [10])
    assert isinstance(failed, ResponseError) and "WRONGTYPE" in str(failed)


def test_a_redis_that_lost_its_scripts_is_given_them_again():
    """After a restart (or SCRIPT FLUSH) EVALSHA answers NOSCRIPT: the scripts are loaded and the
    calls that need them are sent again, so the caller sees only the answer."""
    import hashlib

    sha = hashlib.sha1(SCRIPT.encode()).hexdigest()

    async def scenario(pipeline, client, round_trips):
        await client.script_flush()
        replies = await asyncio.gather(pipeline.call(("EVALSHA", sha, 1, KEY, 7)), pipeline.call(("GET", KEY)))
        return replies, round_trips

    replies, round_trips = run(scenario)
    assert replies == [[7], [None]]  # the GET went in the first round trip, before the script ran
    assert round_trips == [["EVALSHA", "GET"], ["SCRIPT"], ["EVALSHA"]]


def test_a_store_that_cannot_be_reached_fails_every_call_of_the_pass():
    async def scenario(pipeline, client, round_trips):
        return await asyncio.gather(pipeline.call(("GET", KEY)), pipeline.call(("GET", KEY)), return_exceptions=True)

    results = run(scenario, url="redis://127.0.0.1:1/0")
    assert all(isinstance(result, ConnectionError) for result in results), results
