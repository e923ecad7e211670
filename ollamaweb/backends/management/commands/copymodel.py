from django.core.management.base import BaseCommand, CommandError

from ollamaweb.backends.management.targets import add_target_arguments, chosen_targets
from ollamaweb.backends.operations import copy_model, on_each, record_outcomes, run


class Command(BaseCommand):
    help = (
        "Copy a model on the backends under a new name, like `ollama cp` (a real copy; `manage.py alias NEW SOURCE` "
        "gives a name through the gateway without copying). With several backends: --backend NAME or --all."
    )

    def add_arguments(self, parser):
        parser.add_argument("source")
        parser.add_argument("destination")
        add_target_arguments(parser, "copy on every enabled backend")

    def handle(self, *args, source, destination, backend, all, **options):
        targets = chosen_targets(backend, all)
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
