"""Quota counter keys as a type: who is counted (a user, a key or a team, maybe on one model), what,
and when.

The stores keep counters under the string form (`t:u5:d:2026-12-03`, `t:k7:m:llama3:latest:m:2026-12`,
`r:u5:202612031405`, `c:u5`, `gpu:team3:m:2026-12`); only this module builds or reads that form.
"""

import re
from dataclasses import dataclass

from ollamaweb.core.names import canonical

TOKENS, GPU, REQUESTS, CONCURRENT = "tokens", "gpu", "requests", "concurrent"
# Kinds counted per day or month, reserved on admission and settled to what was used. GPU time
# is counted in milliseconds (limits are set in GPU-seconds).
METERED = (TOKENS, GPU)
DAY, MONTH = "d", "m"
_KIND_CODES = {TOKENS: "t", GPU: "gpu", REQUESTS: "r", CONCURRENT: "c"}
_KINDS = {code: kind for kind, code in _KIND_CODES.items()}
USER, KEY, TEAM = "u", "k", "team"
_OWNER = re.compile(r"([a-z]+)(\d+)")


def kind_of(counter: str) -> str:
    """TOKENS, REQUESTS or CONCURRENT, from a counter's string form."""
    return _KINDS[counter.partition(":")[0]]


def prefix_of(kind: str) -> str:
    """The start of every counter of a kind (`c:`)."""
    return _KIND_CODES[kind] + ":"


@dataclass(frozen=True, slots=True)
class Scope:
    """What a limit counts: one user's or one key's requests, all models or one (canonical) model."""

    owner: str  # USER, KEY or TEAM
    owner_id: int
    model: str = ""

    def __post_init__(self):
        if self.model:
            object.__setattr__(self, "model", canonical(self.model))

    def __str__(self) -> str:
        head = f"{self.owner}{self.owner_id}"
        return f"{head}:m:{self.model}" if self.model else head

    @classmethod
    def parse(cls, text: str) -> "Scope":
        head, _, model = text.partition(":m:")
        match = _OWNER.fullmatch(head)
        if match is None:
            raise ValueError(f"not a counter scope: {text!r}")
        return cls(match[1], int(match[2]), model)

    @property
    def is_key(self) -> bool:
        return self.owner == KEY

    @property
    def whose(self) -> str:
        """For refusal messages: `your`, `this API key's`, `your team's`."""
        return {KEY: "this API key's", TEAM: "your team's"}.get(self.owner, "your")


@dataclass(frozen=True, slots=True)
class CounterKey:
    scope: Scope
    kind: str  # TOKENS, GPU, REQUESTS or CONCURRENT
    period: str = ""  # DAY or MONTH for the METERED kinds
    start: str = ""  # 2026-12-03 (day), 2026-12 (month), 202612031405 (the minute of a request count)

    def __str__(self) -> str:
        code = _KIND_CODES[self.kind]
        if self.kind in METERED:
            return f"{code}:{self.scope}:{self.period}:{self.start}"
        if self.kind == REQUESTS:
            return f"{code}:{self.scope}:{self.start}"
        return f"{code}:{self.scope}"

    @classmethod
    def parse(cls, text: str) -> "CounterKey":
        code, _, rest = text.partition(":")
        kind = _KINDS[code]
        if kind in METERED:
            scope, period, start = rest.rsplit(":", 2)
            return cls(Scope.parse(scope), kind, period, start)
        if kind == REQUESTS:
            scope, start = rest.rsplit(":", 1)
            return cls(Scope.parse(scope), kind, "", start)
        return cls(Scope.parse(rest), kind)

    @classmethod
    def metered_prefix(cls, kind: str, owner: str, owner_id: int) -> str:
        """The start shared by every counter of a METERED kind of an owner (all periods, all models)."""
        return f"{_KIND_CODES[kind]}:{owner}{owner_id}:"

    @property
    def period_words(self) -> str:
        if self.kind in METERED:
            what = "tokens" if self.kind == TOKENS else "GPU time"
            return f"{what} on {self.start}" if self.period == DAY else f"{what} in {self.start}"
        if self.kind == REQUESTS:
            s = self.start
            return f"requests in the minute {s[:4]}-{s[4:6]}-{s[6:8]} {s[8:10]}:{s[10:12]}"
        return "requests in flight"

    @property
    def period_name(self) -> str:
        """For refusal messages: daily, monthly, per minute, at once."""
        if self.kind in METERED:
            return "daily" if self.period == DAY else "monthly"
        return "per minute" if self.kind == REQUESTS else "at once"

    def describe(self, owner_name: str) -> str:
        """In words, for people: `alice · tokens on 2026-12-03 · llama3:latest`."""
        parts = [owner_name, self.period_words]
        if self.scope.model:
            parts.append(self.scope.model)
        return " · ".join(parts)
