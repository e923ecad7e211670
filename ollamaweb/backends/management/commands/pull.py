from django.core.management.base import BaseCommand, CommandError

from ollamaweb.audit.services import record
from ollamaweb.backends.management.targets import add_target_arguments, chosen_targets
from ollamaweb.backends.operations import refresh_models_now, run
from ollamaweb.backends.pulls import PullFailed, TerminalProgress, pull


class Command(BaseCommand):
    help = (
        "Download a model on the backends, like `ollama pull`, showing its progress. With several backends, "
        "choose one with --backend NAME or pull on every enabled one with --all."
    )

    def add_arguments(self, parser):
        parser.add_argument("model", help="e.g. llama3.2, qwen3:8b, hf.co/org/repo:tag")
        add_target_arguments(parser, "pull on every enabled backend", "the backend to pull on")

    def handle(self, *args, model, backend, all, **options):
        targets = chosen_targets(backend, all)
        try:
            failures = run(self.pull_all(model, targets))
        except KeyboardInterrupt:
            raise CommandError("Interrupted: the pull stopped (pulling again resumes the download).") from None
        failed = {name for name, _ in failures}
        for target in targets:
            error = next((message for name, message in failures if name == target.name), "")
            after = {"backend": target.name, "ok": not error, "error": error}
            record(None, "model.pull", ("model", "", model), after=after, via="command")
        refresh_models_now([t for t in targets if t.name not in failed])
        if failures:
            if len(targets) == 1:
                raise CommandError(f"Pulling {model} on {targets[0].name} failed: {failures[0][1]}")
            names = ", ".join(name for name, _ in failures)
            raise CommandError(f"Pulling {model} failed on {len(failures)} of {len(targets)} backends: {names}.")
        if len(targets) > 1:
            self.stdout.write(self.style.SUCCESS(f"Pulled {model} on {len(targets)} backends."))

    async def pull_all(self, model, targets):
        failures = []
        for target in targets:
            self.stdout.write(self.style.MIGRATE_HEADING(f"Pulling {model} on {target.name} ({target.url})"))
            display = TerminalProgress(self.write, tty=self.stdout.isatty())
            try:
                state = await pull(target, model, display)
            except PullFailed as exc:
                display.finish(exc.state)
                self.stderr.write(f"Error on {target.name}: {exc.message}")
                failures.append((target.name, exc.message))
            else:
                display.finish(state)
        return failures

    def write(self, text):
        self.stdout.write(text, ending="")
        self.stdout.flush()
