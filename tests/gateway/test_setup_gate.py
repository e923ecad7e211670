"""The set-up gate: generation requests through set-up a limited number at a time, in arrival order,
and never a place kept by a request that is admitted, answered, refused or gone."""

import asyncio
import time

import httpx
import openai
import pytest

from ollamaweb.gateway import setup_gate
from ollamaweb.gateway.setup_gate import SetupGate
from ollamaweb.quotas.models import QuotaPolicy
from ollamaweb.quotas.policy import policy_table
from tests.fake_ollama import Reply

HI = [{"role": "user", "content": "hi"}]


async def _queue(gate: SetupGate, names: list[str], entered: list[str]) -> list[asyncio.Task]:
    async def one(name):
        ticket = await gate.enter()
        entered.append(name)
        return ticket

    tasks = []
    for name in names:  # created one after the other: each asks for its place in this order
        tasks.append(asyncio.create_task(one(name)))
        await asyncio.sleep(0)
    await asyncio.sleep(0)
    return tasks


def test_at_most_size_are_inside_and_the_others_enter_in_arrival_order():
    async def scenario():
        gate, entered = SetupGate(2), []
        tasks = await _queue(gate, ["a", "b", "c", "d", "e"], entered)
        assert entered == ["a", "b"] and gate.inside == 2
        (await tasks[1]).leave()
        await asyncio.sleep(0)
        assert entered == ["a", "b", "c"] and gate.inside == 2
        (await tasks[0]).leave()
        (await tasks[2]).leave()
        await asyncio.sleep(0)
        assert entered == ["a", "b", "c", "d", "e"] and gate.inside == 2
        for task in tasks[3:]:
            ticket = await task
            ticket.leave()
            ticket.leave()  # a second leave gives back nothing more
        assert gate.inside == 0

    asyncio.run(scenario())


def test_a_request_gone_while_waiting_takes_no_place_and_one_let_in_as_it_left_passes_it_on():
    async def scenario():
        gate, entered = SetupGate(1), []
        first, waiting, let_in_then_gone, last = await _queue(gate, ["a", "b", "c", "d"], entered)
        waiting.cancel()  # its client left while it waited
        await asyncio.sleep(0)
        (await first).leave()  # c is let in, and its client leaves before it runs
        let_in_then_gone.cancel()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert entered == ["a", "d"] and gate.inside == 1
        (await last).leave()
        assert gate.inside == 0
        assert waiting.cancelled() and let_in_then_gone.cancelled()

    asyncio.run(scenario())


def test_requests_stuck_inside_hold_the_others_back_only_until_the_gate_has_been_still_a_while(monkeypatch):
    monkeypatch.setattr(setup_gate, "STALL_SECONDS", 0.05)

    async def scenario():
        gate, entered = SetupGate(1), []
        started = time.monotonic()
        tasks = await _queue(gate, ["stuck", "b", "c"], entered)  # "stuck" never leaves (a store that hangs)
        await asyncio.sleep(0.02)
        assert entered == ["stuck"]
        await asyncio.wait_for(asyncio.gather(*tasks), 1)
        assert entered == ["stuck", "b", "c"] and time.monotonic() - started >= 0.05
        assert gate.inside == 3  # the gate fills up again only as they leave
        for task in tasks:
            task.result().leave()
        assert gate.inside == 0

    asyncio.run(scenario())


def test_a_gate_that_lets_requests_leave_is_not_still(monkeypatch):
    """While requests keep leaving, the stall check lets nobody in out of turn."""
    monkeypatch.setattr(setup_gate, "STALL_SECONDS", 0.5)  # wide margins for a loaded machine's timers

    async def scenario():
        gate, entered = SetupGate(1), []
        tasks = await _queue(gate, ["a", "b", "c", "d"], entered)
        for task in tasks:
            await asyncio.sleep(0.2)  # each stays inside longer than a burst's pass, less than the stall
            assert len(entered) == tasks.index(task) + 1
            (await task).leave()
        assert entered == ["a", "b", "c", "d"] and gate.inside == 0

    asyncio.run(scenario())


@pytest.fixture
def gate_of_one(settings, gateway):
    settings.SETUP_GATE_SIZE = 1
    return lambda: gateway.call(_inside())


async def _inside() -> int:
    gate = setup_gate._gates.get(asyncio.get_running_loop())
    return gate.inside if gate is not None else 0


def test_a_request_gives_its_place_up_once_admitted_while_the_backend_still_thinks(
    gate_of_one, gateway, fake_ollama, client, async_client
):
    """A backend can take minutes to load a model: the request waits for it outside the gate."""
    fake_ollama.reply = Reply(content="slow answer", first_token_delay=1.0)

    async def slow_then_quick():
        slow = asyncio.create_task(async_client.chat.completions.create(model="llama3", messages=HI, stream=True))
        await asyncio.to_thread(fake_ollama.wait_for, lambda: fake_ollama.active == 1)
        assert gate_of_one() == 0  # admitted, at the backend, no first token yet: no place held
        fake_ollama.reply = Reply(content="quick")
        quick = await async_client.chat.completions.create(model="llama3", messages=HI)
        assert fake_ollama.active == 1  # served while the slow one still thinks
        return quick.choices[0].message.content, "".join([c.choices[0].delta.content or "" async for c in await slow])

    assert asyncio.run(slow_then_quick()) == ("quick", "slow answer")
    assert gate_of_one() == 0


def test_refused_failed_and_abandoned_requests_give_their_place_back(
    gate_of_one, gateway, fake_ollama, client, user, api_key
):
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="llama3", messages="not a list")
    bad_key = openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad_key.chat.completions.create(model="llama3", messages=HI)
    QuotaPolicy.objects.create(user=user, tokens_per_day=1)
    policy_table.invalidate()
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="llama3", messages=HI)
    QuotaPolicy.objects.all().delete()
    policy_table.invalidate()
    fake_ollama.reply = Reply(content="slow", first_token_delay=2.0)
    with pytest.raises(httpx.ReadTimeout):  # the client leaves while the backend thinks
        httpx.post(
            gateway.url + "/v1/chat/completions",
            json={"model": "llama3", "messages": HI},
            headers={"Authorization": f"Bearer {api_key[1]}"},
            timeout=0.3,
        )
    assert gate_of_one() == 0
    fake_ollama.reply = Reply(content="served")
    assert client.chat.completions.create(model="llama3", messages=HI).choices[0].message.content == "served"
