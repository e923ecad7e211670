from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from ollamaweb.keys.services import issue_key


class Command(BaseCommand):
    help = "Create an API key for USERNAME (creating the user if missing); the key is the last line."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="A label for the key.")
        parser.add_argument("--expires-days", type=int, help="Expire the key after N days.")
        parser.add_argument("--models", default="", help="Comma-separated models/aliases the key may use.")

    def handle(self, username, name, expires_days, models, **options):
        if expires_days is not None and expires_days <= 0:
            raise CommandError("--expires-days must be a positive number of days.")
        user, created = get_user_model().objects.get_or_create(username=username)
        if created:
            user.set_unusable_password()
            user.save()
            self.stdout.write(f"Created user {username}.")
        expires_at = timezone.now() + timedelta(days=expires_days) if expires_days else None
        allowed = [model.strip() for model in models.split(",") if model.strip()]
        key, secret = issue_key(user, name, expires_at, allowed, via="command")
        details = [f"prefix {key.prefix}"]
        if expires_at:
            details.append(f"expires {expires_at:%Y-%m-%d %H:%M %Z}")
        if allowed:
            details.append(f"models {', '.join(allowed)}")
        self.stdout.write(f"API key for {username} ({'; '.join(details)}). It is shown only once:")
        self.stdout.write(secret)
