"""How the model-management commands (pull, copymodel, deletemodel) choose their backends."""

from django.core.management.base import CommandError

from ollamaweb.backends.config import BackendConfig, configured_backends
from ollamaweb.backends.operations import TargetError, select_targets


def add_target_arguments(parser, all_help: str, backend_help: str | None = None) -> None:
    """--backend NAME or --all (`all_help` says what --all acts on)."""
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--backend", metavar="NAME", help=backend_help)
    which.add_argument("--all", action="store_true", help=all_help)


def chosen_targets(backend: str | None, all: bool) -> list[BackendConfig]:
    """The backends the arguments choose (the only enabled one when they name none)."""
    try:
        return select_targets(configured_backends(), backend, all)
    except TargetError as exc:
        raise CommandError(str(exc)) from None
