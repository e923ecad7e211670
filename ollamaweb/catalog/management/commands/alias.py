from django.core.management.base import BaseCommand, CommandError

from ollamaweb.catalog import services
from ollamaweb.catalog.models import CatalogSettings, ModelAlias


class Command(BaseCommand):
    help = (
        "Set (ALIAS TARGET), delete (--delete ALIAS) or list (--list) model aliases; "
        "--claude-default TARGET serves unknown claude-* names with TARGET ('' turns that off)."
    )

    def add_arguments(self, parser):
        parser.add_argument("alias", nargs="?")
        parser.add_argument("target", nargs="?")
        parser.add_argument("--delete", metavar="ALIAS")
        parser.add_argument("--list", action="store_true")
        parser.add_argument("--claude-default", metavar="TARGET")

    def handle(self, alias, target, delete, list, claude_default, **options):
        if claude_default is not None:
            target = services.set_claude_default_target(claude_default).claude_default_target
            self.stdout.write(f"claude-* → {target}" if target else "No default for claude-* names.")
        elif list:
            for row in ModelAlias.objects.all():
                self.stdout.write(f"{row.name}\t{row.target}")
            default = CatalogSettings.current().claude_default_target
            if default:
                self.stdout.write(f"claude-*\t{default}\t(default for claude-* names without an alias)")
        elif delete:
            deleted, _ = ModelAlias.objects.filter(name=delete).delete()
            if not deleted:
                raise CommandError(f"No alias named {delete}.")
            self.stdout.write(f"Deleted alias {delete}.")
        elif alias and target:
            if alias == target:
                raise CommandError("An alias cannot point at itself.")
            ModelAlias.objects.update_or_create(name=alias, defaults={"target": target})
            self.stdout.write(f"{alias} → {target}")
        else:
            raise CommandError("Give ALIAS TARGET, --delete ALIAS or --list.")
