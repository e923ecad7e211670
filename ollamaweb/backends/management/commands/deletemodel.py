import sys

from django.core.management.base import BaseCommand, CommandError

from ollamaweb.backends.management.targets import add_target_arguments, chosen_targets
from ollamaweb.backends.operations import (
    delete_model,
    find_model,
    human_size,
    on_each,
    record_outcomes,
    run,
)


class Command(BaseCommand):
    help = (
        "Delete a model from the backends, like `ollama rm`. Shows which backends have it and asks first "
        "(on a terminal) unless --yes. With several backends: --backend NAME or --all."
    )
    stealth_options = ("stdin",)

    def add_arguments(self, parser):
        parser.add_argument("model")
        add_target_arguments(parser, "delete from every enabled backend that has it")
        parser.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")

    def handle(self, *args, model, backend, all, yes, **options):
        stdin = options.get("stdin", sys.stdin)
        targets = chosen_targets(backend, all)

        checks = run(on_each(targets, find_model, model))
        having = [c.target for c in checks if c.ok and c.detail]
        unreachable = [c for c in checks if not c.ok]
        for check in checks:
            if not check.ok:
                self.stderr.write(f"{check.target.name}: could not check: {check.message}")
            elif check.detail:
                self.stdout.write(f"{check.target.name}: has {model} ({human_size(check.detail.get('size'))})")
            else:
                self.stdout.write(f"{check.target.name}: does not have {model}")
        if not having:
            where = targets[0].name if len(targets) == 1 else "any of the backends"
            raise CommandError(f"model '{model}' not found on {where}; nothing deleted.")

        names = ", ".join(t.name for t in having)
        if not yes:
            if not (hasattr(stdin, "isatty") and stdin.isatty()):
                raise CommandError("Not a terminal: add --yes to delete without confirmation.")
            self.stdout.write(f"Delete {model} from {names}? [y/N] ", ending="")
            self.stdout.flush()
            if stdin.readline().strip().lower() not in ("y", "yes"):
                raise CommandError("Cancelled: nothing deleted.")

        outcomes = run(on_each(having, delete_model, model))
        record_outcomes(outcomes, "model.delete", model)
        failed = [o for o in outcomes if not o.ok]
        for outcome in outcomes:
            if outcome.ok:
                self.stdout.write(f"{outcome.target.name}: deleted {model}.")
            else:
                self.stderr.write(f"{outcome.target.name}: could not delete {model}: {outcome.message}")
        if failed or unreachable:
            raise CommandError(
                f"{model} was deleted on {len(outcomes) - len(failed)} backend(s); "
                f"{len(failed) + len(unreachable)} failed or could not be checked."
            )
