from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from ollamaweb.teams import services
from ollamaweb.teams.models import Membership, Team


class Command(BaseCommand):
    help = (
        "Teams from the command line: --list; NAME --create; NAME [--add USER[:admin]]... [--remove USER]... "
        "[--models m1,m2 | --all-models] [--description TEXT]; NAME --delete; NAME alone shows the team. "
        "Usage per team: manage.py usage --by team."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", nargs="?")
        parser.add_argument("--list", action="store_true", help="list the teams")
        parser.add_argument("--create", action="store_true", help="create the team")
        parser.add_argument("--delete", action="store_true", help="delete the team and its team keys")
        parser.add_argument("--add", action="append", default=[], metavar="USER[:admin]", help="add a member")
        parser.add_argument("--remove", action="append", default=[], metavar="USER", help="remove a member")
        parser.add_argument("--models", help="comma-separated models or aliases the team may use")
        parser.add_argument("--all-models", action="store_true", help="let the team use every model")
        parser.add_argument("--description")

    def handle(self, *args, name, list, create, delete, add, remove, models, all_models, description, **options):
        if list or not name:
            for team in Team.objects.all():
                members = ", ".join(f"{m.user.get_username()}{' (admin)' if m.is_admin else ''}" for m in
                                    team.memberships.select_related("user"))  # fmt: skip
                allowed = ", ".join(team.allowed_models) or "all models"
                self.stdout.write(f"{team.name}\t{allowed}\t{members or '-'}")
            return
        try:
            if create:
                team = services.create_team(None, name, description or "")
                self.stdout.write(f"Created team {team.name}.")
            team = Team.objects.filter(name__iexact=name).first()
            if team is None:
                raise CommandError(f"No team named {name} (create it with --create).")
            if delete:
                services.delete_team(None, team)
                self.stdout.write(f"Deleted team {team.name} and its team keys.")
                return
            if models is not None or all_models or description is not None:
                allowed = [] if all_models else ([m for m in models.split(",")] if models is not None else None)
                services.update_team(None, team, description=description, allowed_models=allowed)
            for item in add:
                username, _, role = item.partition(":")
                user = self._user(username)
                services.add_member(None, team, user, role or Membership.Role.MEMBER)
                self.stdout.write(f"{username} is in {team.name} ({role or 'member'}).")
            for username in remove:
                membership = Membership.objects.filter(team=team, user=self._user(username)).first()
                if membership is None:
                    raise CommandError(f"{username} is not in {team.name}.")
                services.remove_member(None, membership)
                self.stdout.write(f"Removed {username} from {team.name}.")
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        team.refresh_from_db()
        self.stdout.write(f"{team.name}: models {', '.join(team.allowed_models) or 'all'}; "
                          f"{team.memberships.count()} member(s).")  # fmt: skip

    def _user(self, username):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username}.")
        return user
