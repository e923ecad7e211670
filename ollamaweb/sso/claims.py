"""From an identity provider's claims to a local account: pure functions (settings are passed in)."""

import hashlib
import re
from dataclasses import dataclass, field

USERNAME_CHARS = re.compile(r"[^\w.@+-]")
MAX_USERNAME = 150


@dataclass(frozen=True)
class SsoConfig:
    """What the OLLAMAWEB_OIDC_* settings say (see config())."""

    issuer: str = ""
    discovery_url: str = ""
    client_id: str = ""
    client_secret: str = ""
    scopes: str = "openid email profile"
    sign_algo: str = "RS256"
    username_claim: str = "preferred_username"
    email_claim: str = "email"
    groups_claim: str = ""
    staff_groups: frozenset[str] = frozenset()
    team_map: dict = field(default_factory=dict)  # group -> team name
    teams_from_groups: bool = False  # "*": a group that names a team joins it
    create_users: bool = True
    link_by_email: bool = True
    label: str = "single sign-on"

    @property
    def enabled(self) -> bool:
        return bool((self.issuer or self.discovery_url) and self.client_id)

    @property
    def maps_teams(self) -> bool:
        return bool(self.groups_claim and (self.team_map or self.teams_from_groups))

    @property
    def maps_staff(self) -> bool:
        return bool(self.groups_claim and self.staff_groups)

    @property
    def discovery(self) -> str:
        return self.discovery_url or self.issuer.rstrip("/") + "/.well-known/openid-configuration"


def parse_team_map(text: str) -> tuple[dict, bool]:
    """ "*" (groups name teams) or "group=Team name,other-group=Other team" -> (mapping, teams_from_groups)."""
    text = (text or "").strip()
    if text == "*":
        return {}, True
    mapping = {}
    for item in text.split(","):
        group, sep, team = item.partition("=")
        if sep and group.strip() and team.strip():
            mapping[group.strip()] = team.strip()
    return mapping, False


def groups_of(claims: dict, claim: str) -> list[str]:
    """The groups in a claim: a list, or a string of names separated by commas or spaces."""
    value = claims.get(claim) if claim else None
    if value is None:
        return []
    if isinstance(value, str):
        return [g for g in re.split(r"[,\s]+", value) if g]
    if isinstance(value, list | tuple):
        return [str(g) for g in value if str(g).strip()]
    return [str(value)]


def team_names(groups: list[str], config: SsoConfig) -> list[str]:
    names = [config.team_map[g] for g in groups if g in config.team_map]
    if config.teams_from_groups:
        names += groups
    return list(dict.fromkeys(names))


def is_staff(groups: list[str], config: SsoConfig) -> bool:
    return bool(set(groups) & config.staff_groups)


def username_candidates(claims: dict, config: SsoConfig):
    """Usernames to try, best first: the username claim, the e-mail's local part, a name from `sub`."""
    for raw in (claims.get(config.username_claim), str(claims.get(config.email_claim) or "").split("@")[0]):
        name = USERNAME_CHARS.sub("", str(raw or ""))[:MAX_USERNAME]
        if name:
            yield name
    digest = hashlib.sha256(str(claims.get("sub", "")).encode()).hexdigest()[:12]
    yield f"sso-{digest}"


def email_of(claims: dict, config: SsoConfig) -> str:
    return str(claims.get(config.email_claim) or "")[:254]


def audience_ok(payload: dict, client_id: str) -> bool:
    audience = payload.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    return client_id in audiences
