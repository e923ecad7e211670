"""Access to the machine's PostgreSQL and Redis for tests that need real shared stores."""

import os

import pytest

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")


def redis_url_or_skip() -> str:
    """The test Redis (database 15), or a loud skip when it cannot be reached."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis is not reachable at {REDIS_URL} ({exc}); .ci/run starts it")
    return REDIS_URL


def postgres_url_or_skip() -> str:
    import psycopg

    try:
        psycopg.connect(POSTGRES_URL.replace("postgres://", "postgresql://"), connect_timeout=2).close()
    except psycopg.Error as exc:
        pytest.skip(f"PostgreSQL is not reachable at {POSTGRES_URL} ({exc}); .ci/run starts it")
    return POSTGRES_URL


if __name__ == "__main__":
    # `python -m tests.services postgres`: exit 0 when PostgreSQL answers, else say so loudly.
    import sys

    import psycopg

    try:
        psycopg.connect(POSTGRES_URL.replace("postgres://", "postgresql://"), connect_timeout=2).close()
    except psycopg.Error as exc:
        print(f"!!! PostgreSQL is not reachable at {POSTGRES_URL}: {exc}", file=sys.stderr)
        sys.exit(1)
