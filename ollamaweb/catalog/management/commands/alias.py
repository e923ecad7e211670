from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from ollamaweb.catalog import services
from ollamaweb.catalog.models import ModelAlias


class Command(BaseCommand):
    help = "Set (ALIAS TARGET), delete (--delete ALIAS) or list (--list) model aliases."

    def add_arguments(self, parser):
        parser.add_argument("alias", nargs="?")
        parser.add_argument("target", nargs="?")
        parser.add_argument("--delete", metavar="ALIAS")
        parser.add_argument("--list", action="store_true")
        parser.add_argument(
            "--pending", action="store_true", help="Save even if no backend has TARGET yet (e.g. before a pull)."
        )

    def handle(self, alias, target, delete, list, pending, **options):
        if list:
            for row in ModelAlias.objects.all():
                self.stdout.write(f"{row.name}\t{row.target}")
        elif delete:
            if not services.delete_aliases(ModelAlias.objects.filter(name=delete), via="command"):
                raise CommandError(f"No alias named {delete}.")
            self.stdout.write(f"Deleted alias {delete}.")
        elif alias and target:
            try:
                services.set_alias(
                    alias,
                    target,
                    known_models=None if pending else services.known_models(),
                    allow_pending=pending,
                    via="command",
                )
            except ValidationError as exc:
                raise CommandError(" ".join(exc.messages)) from None
            self.stdout.write(f"{alias} → {target}")
        else:
            raise CommandError("Give ALIAS TARGET, --delete ALIAS or --list.")
