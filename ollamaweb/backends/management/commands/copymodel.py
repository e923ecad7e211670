from django.core.management.base import BaseCommand, CommandError

from ollamaweb.backends.config import configured_backends
from ollamaweb.backends.operations import TargetError, copy_model, on_each, record_outcomes, run, select_targets


class Command(BaseCommand):
    help = (
        "Copy a model on the backends under a new name, like `ollama cp` (a real copy; `manage.py alias NEW SOURCE` "
        "gives a name through the gateway without copying). With several backends: --backend NAME or --all."
    )

    def add_arguments(self, parser):
        parser.add_argument("source")
        parser.add_argument("destination")
        which = parser.add_mutually_exclusive_group()
        which.add_argument("--backend", metavar="NAME")
        which.add_argument("--all", action="store_true", help="copy on every enabled backend")

    def handle(self, *args, source, destination, backend, all, **options):
        try:
            targets = select_targets(configured_backends(), backend, all)
        except TargetError as exc:
            raise CommandError(str(exc)) from None
        outcomes = run(on_each(targets, copy_model, source, destination))
        record_outcomes(outcomes, "model.copy", source, destination=destination)
        failed = [o for o in outcomes if not o.ok]
        for outcome in outcomes:
            if outcome.ok:
                self.stdout.write(f"{outcome.target.name}: copied {source} to {destination}.")
            elif len(outcomes) > 1:
                self.stderr.write(f"{outcome.target.name}: {outcome.message}")
        if failed:
            if len(outcomes) == 1:
                raise CommandError(f"{failed[0].target.name}: could not copy {source}: {failed[0].message}")
            raise CommandError(f"The copy failed on {len(failed)} of {len(outcomes)} backends.")
