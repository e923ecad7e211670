from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .models import Membership, Team
from .policy import team_directory


@receiver([post_save, post_delete], sender=Team)
@receiver([post_save, post_delete], sender=Membership)
def forget_teams(sender, **kwargs):
    team_directory.invalidate()
