"""What models the gateway offers a key: the backends' listings plus aliases, within its allow-list."""

import asyncio

from ollamaweb.backends.registry import registry
from ollamaweb.catalog.aliases import Alias, alias_table
from ollamaweb.core.names import canonical
from ollamaweb.teams.policy import model_allowed, team_directory, team_for


async def backend_listings() -> list[dict]:
    """Each reachable backend's /api/tags answer; raises the first failure when none answers."""
    backends = [backend for backend in await registry.backends() if backend.up is not False]
    answers = await asyncio.gather(
        *(backend.client.request("GET", "/api/tags") for backend in backends), return_exceptions=True
    )
    listings = [answer for answer in answers if isinstance(answer, dict)]
    if not listings and answers:
        raise answers[0]
    return listings


async def aliases() -> list[Alias]:
    return list((await alias_table.all()).values())


async def visible_to(identity):
    """A predicate: whether the key may see the model `name`, by its allow-list and its team's models."""
    team = team_for(identity, await team_directory.get())
    aliases = await alias_table.all()

    def visible(name: str) -> bool:
        alias = aliases.get(name) or aliases.get(name.removesuffix(":latest"))
        return allowed(identity, name) and model_allowed(team, name, alias.target if alias else "")

    return visible


def allowed(identity, name: str) -> bool:
    """Whether the key may see and use the model `name` (an empty allow-list allows all)."""
    names = identity.allowed_models
    return not names or canonical(name) in {canonical(allowed_name) for allowed_name in names}
