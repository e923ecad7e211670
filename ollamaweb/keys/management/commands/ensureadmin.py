import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Make sure an admin account exists, and say how to sign in."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument("--url", default="http://127.0.0.1:8000/", help="Where the portal is served.")

    def handle(self, username, url, **options):
        users = get_user_model().objects
        admin = users.filter(is_superuser=True).order_by("pk").first()
        if admin is None and users.filter(username=username).exists():
            raise CommandError(
                f"There is no admin account, and the user '{username}' exists but is not an admin. "
                "Create one with `python manage.py createsuperuser`, or pass --username with a free name."
            )
        if admin is None:
            password = secrets.token_urlsafe(12)
            admin = users.create_superuser(username, password=password)
            self.stdout.write(self.style.SUCCESS(f"Created the admin account '{username}' with password: {password}"))
            self.stdout.write("(shown only this once; change it after signing in)")
        self.stdout.write(
            f"Sign in to the portal at {url} (admin: {url}admin/) as '{admin.get_username()}'. "
            f"Forgot the password? python manage.py changepassword {admin.get_username()}"
        )
