from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .models import QuotaPolicy
from .policy import policy_table


@receiver([post_save, post_delete], sender=QuotaPolicy)
def forget_policies(sender, **kwargs):
    policy_table.invalidate()
