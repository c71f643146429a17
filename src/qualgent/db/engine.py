"""Async SQLAlchemy engine on asyncpg: the one driver every process uses."""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine


def async_url(url: str) -> str:
    """postgresql://... -> postgresql+asyncpg://... (keeps a unix-socket ?host=)."""
    u = make_url(url)
    return u.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def make_engine(url: str, pool_size: int = 10) -> AsyncEngine:
    """At most pool_size connections (no overflow), so a process's share of the server's
    max_connections is what it was given (qualgent.runtime does the arithmetic).

    pool_pre_ping: a pooled connection the database dropped (a restart, a failover) is
    noticed and replaced at checkout, instead of failing the first request that draws it.
    It costs one round trip per checkout; the hot read paths use the asyncpg pool instead."""
    return create_async_engine(
        async_url(url), pool_size=pool_size, max_overflow=0, pool_pre_ping=True
    )


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker:
    return async_sessionmaker(engine, expire_on_commit=False)
