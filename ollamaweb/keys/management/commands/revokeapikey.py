from django.core.management.base import BaseCommand, CommandError

from ollamaweb.keys.hashing import PREFIX_LENGTH
from ollamaweb.keys.models import ApiKey
from ollamaweb.keys.services import revoke_key


class Command(BaseCommand):
    help = "Revoke the API key whose first 12 (or more) characters are PREFIX."

    def add_arguments(self, parser):
        parser.add_argument("prefix")

    def handle(self, prefix, **options):
        if len(prefix) < PREFIX_LENGTH:
            raise CommandError(f"Give at least the first {PREFIX_LENGTH} characters of the key.")
        try:
            key = ApiKey.objects.get(prefix=prefix[:PREFIX_LENGTH])
        except ApiKey.DoesNotExist:
            raise CommandError(f"No API key starts with {prefix[:PREFIX_LENGTH]}.") from None
        if key.revoked:
            self.stdout.write(f"Key {key.prefix} was already revoked.")
            return
        revoke_key(key, via="command")
        self.stdout.write(f"Revoked key {key.prefix} of {key.user.get_username()}.")
