from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ollamaweb.backends import services
from ollamaweb.backends.models import Backend
from ollamaweb.core.ollama import parse_ollama_host


def status_of(backend: Backend) -> str:
    return "unknown" if backend.is_up is None else ("up" if backend.is_up else "down")


def table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]


class Command(BaseCommand):
    help = (
        "Add (--add NAME URL [--weight N] [--max-concurrent N] [--header 'Name: value']), remove (--remove NAME) "
        "or list (--list, the default) the Ollama backends. Without any, the gateway uses OLLAMA_HOST."
    )

    def add_arguments(self, parser):
        parser.add_argument("--add", nargs=2, metavar=("NAME", "URL"), help="add a backend (or update it)")
        parser.add_argument("--weight", type=int, help="relative share of requests (with --add; default 1)")
        parser.add_argument(
            "--max-concurrent", type=int, help="requests at once per gateway process (with --add; 0: no limit)"
        )
        parser.add_argument(
            "--header", action="append", default=[], metavar="'NAME: VALUE'", help="extra HTTP header (with --add)"
        )
        parser.add_argument("--disabled", action="store_true", help="add the backend disabled")
        parser.add_argument("--remove", metavar="NAME", help="remove a backend")
        parser.add_argument("--list", action="store_true", help="list the backends")

    def handle(self, *args, add, weight, max_concurrent, header, disabled, remove, list, **options):
        if not add and (weight is not None or max_concurrent is not None or header or disabled):
            raise CommandError("--weight, --max-concurrent, --header and --disabled go with --add.")
        if add:
            self.add(*add, weight=weight, max_concurrent=max_concurrent, header=header, disabled=disabled)
        if remove:
            if not services.remove_backends(Backend.objects.filter(name=remove), via="command"):
                raise CommandError(f"No backend named {remove}.")
            self.stdout.write(f"Removed backend {remove}.")
        if list or not (add or remove):
            self.list()

    def add(self, name, url, *, weight, max_concurrent, header, disabled):
        url = url.strip()
        if "," in url or not name.strip():
            raise CommandError("Give one NAME and one URL, e.g. --add gpu1 http://gpu1:11434")
        parse_ollama_host(url)
        if weight is not None and weight < 1:
            raise CommandError("--weight must be 1 or more.")
        if max_concurrent is not None and max_concurrent < 0:
            raise CommandError("--max-concurrent must be 0 (no limit) or more.")
        headers = {}
        for item in header:
            key, sep, value = item.partition(":")
            if not sep or not key.strip():
                raise CommandError(f"--header {item!r}: give 'Name: value'.")
            headers[key.strip()] = value.strip()
        created = not Backend.objects.filter(name=name).exists()
        services.set_backend(
            name,
            url,
            weight=weight,
            max_concurrent=max_concurrent,
            headers=headers,
            enabled=not disabled,
            via="command",
        )
        self.stdout.write(f"{'Added' if created else 'Updated'} backend {name} ({url}).")

    def list(self):
        backends = list(Backend.objects.all())
        if not backends:
            self.stdout.write(f"No backends configured: the gateway uses OLLAMA_HOST ({settings.OLLAMA_HOST}):")
            for url in parse_ollama_host(settings.OLLAMA_HOST):
                self.stdout.write(f"  {url}")
            self.stdout.write("Add one with: manage.py backends --add NAME URL")
            return
        rows = [["NAME", "URL", "ENABLED", "WEIGHT", "MAX CONCURRENT", "STATUS", "VERSION", "MODELS"]]
        for b in backends:
            rows.append(
                [
                    b.name,
                    b.url,
                    "yes" if b.enabled else "no",
                    str(b.weight),
                    "-" if b.max_concurrent is None else str(b.max_concurrent),
                    status_of(b),
                    b.version or "-",
                    str(len(b.present_models or ())),
                ]
            )
        for line in table(rows):
            self.stdout.write(line)
        if not any(b.enabled for b in backends):
            urls = ", ".join(parse_ollama_host(settings.OLLAMA_HOST))
            self.stdout.write(f"Every backend is disabled: the gateway uses OLLAMA_HOST ({urls}).")
