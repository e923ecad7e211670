from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from ollamaweb.catalog import services
from ollamaweb.catalog.models import CatalogSettings, ModelAlias


class Command(BaseCommand):
    help = (
        "Set (ALIAS TARGET), delete (--delete ALIAS) or list (--list) model aliases; "
        "--claude-default TARGET serves claude-* names without an alias with TARGET ('' turns that off)."
    )

    def add_arguments(self, parser):
        parser.add_argument("alias", nargs="?")
        parser.add_argument("target", nargs="?")
        parser.add_argument("--delete", metavar="ALIAS")
        parser.add_argument("--list", action="store_true")
        parser.add_argument("--claude-default", metavar="TARGET")
        parser.add_argument(
            "--pending", action="store_true", help="Save even if no backend has TARGET yet (e.g. before a pull)."
        )

    def handle(self, alias, target, delete, list, pending, claude_default, **options):
        if claude_default is not None:
            try:
                target = services.set_claude_default_target(
                    claude_default, known_models=None if pending else services.known_models(), allow_pending=pending
                ).claude_default_target
            except ValidationError as exc:
                raise CommandError(" ".join(exc.messages)) from None
            self.stdout.write(f"claude-* → {target}" if target else "No default for claude-* names.")
        elif list:
            for row in ModelAlias.objects.all():
                self.stdout.write(f"{row.name}\t{row.target}")
            default = CatalogSettings.current().claude_default_target
            if default:
                self.stdout.write(f"claude-*\t{default}\t(default for claude-* names without an alias)")
        elif delete:
            if not services.delete_aliases(ModelAlias.objects.filter(name=delete)):
                raise CommandError(f"No alias named {delete}.")
            self.stdout.write(f"Deleted alias {delete}.")
        elif alias and target:
            try:
                services.set_alias(
                    alias, target, known_models=None if pending else services.known_models(), allow_pending=pending
                )
            except ValidationError as exc:
                raise CommandError(" ".join(exc.messages)) from None
            self.stdout.write(f"{alias} → {target}")
        else:
            raise CommandError("Give ALIAS TARGET, --delete ALIAS or --list.")
