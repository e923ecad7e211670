from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from ollamaweb.quotas import services
from ollamaweb.quotas.models import LIMIT_FIELDS
from ollamaweb.teams.models import Team

EVERYONE = "*"
UNCHANGED = object()


def limit_value(text: str):
    """A limit from the command line: a positive number, or 0/none to clear it."""
    if text.strip().lower() in ("0", "none"):
        return None
    try:
        value = int(text)
    except ValueError:
        raise CommandError(f"Not a number: {text!r} (use 0 or none to clear a limit).") from None
    if value < 0:
        raise CommandError("Limits cannot be negative.")
    return value


class Command(BaseCommand):
    help = (
        "Set a user's limits (USERNAME '*' sets the default for everyone) or a team's (--team NAME); "
        "0 or none clears one. GPU time is in seconds."
    )

    def add_arguments(self, parser):
        parser.add_argument("username", nargs="?", help="A username, or * for the default policy.")
        parser.add_argument("--team", help="Set the limits of this team (for its whole use together).")
        for name in LIMIT_FIELDS:
            parser.add_argument(f"--{name.replace('_', '-')}", type=limit_value, default=UNCHANGED)
        parser.add_argument("--model", default="", help="Limit only this backend model.")

    def handle(self, username, team, model, **options):
        if bool(username) == bool(team):
            raise CommandError("Name a user (or * for everyone), or a team with --team.")
        user = None
        if team:
            name, team = team, Team.objects.filter(name=team).first()
            if team is None:
                raise CommandError(f"No team named {name}.")
        elif username != EVERYONE:
            try:
                user = get_user_model().objects.get(username=username)
            except get_user_model().DoesNotExist:
                raise CommandError(f"No user named {username}.") from None
        limits = {name: options[name] for name in LIMIT_FIELDS if options[name] is not UNCHANGED}
        try:
            policy = services.set_limits(user=user, team=team, model=model, via="command", **limits)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        limits = ", ".join(f"{name}={getattr(policy, name) or 'unlimited'}" for name in LIMIT_FIELDS)
        self.stdout.write(f"{policy}: {limits}")
