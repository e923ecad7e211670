from django.core.management.base import BaseCommand, CommandError

from ollamaweb.audit.services import record, snapshot
from ollamaweb.catalog.models import ModelAlias


class Command(BaseCommand):
    help = "Set (ALIAS TARGET), delete (--delete ALIAS) or list (--list) model aliases."

    def add_arguments(self, parser):
        parser.add_argument("alias", nargs="?")
        parser.add_argument("target", nargs="?")
        parser.add_argument("--delete", metavar="ALIAS")
        parser.add_argument("--list", action="store_true")

    def handle(self, alias, target, delete, list, **options):
        if list:
            for row in ModelAlias.objects.all():
                self.stdout.write(f"{row.name}\t{row.target}")
        elif delete:
            old = ModelAlias.objects.filter(name=delete).first()
            if old is None:
                raise CommandError(f"No alias named {delete}.")
            before = snapshot(old, fields=("name", "target", "description"))
            old.delete()
            record(None, "alias.delete", ("catalog.modelalias", "", delete), before=before)
            self.stdout.write(f"Deleted alias {delete}.")
        elif alias and target:
            if alias == target:
                raise CommandError("An alias cannot point at itself.")
            old = ModelAlias.objects.filter(name=alias).first()
            before = snapshot(old, fields=("name", "target", "description"))
            row, created = ModelAlias.objects.update_or_create(name=alias, defaults={"target": target})
            after = snapshot(row, fields=("name", "target", "description"))
            record(None, "alias.create" if created else "alias.update", row, before=before, after=after)
            self.stdout.write(f"{alias} → {target}")
        else:
            raise CommandError("Give ALIAS TARGET, --delete ALIAS or --list.")
