from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .aliases import alias_table
from .models import CatalogSettings, ModelAlias


@receiver([post_save, post_delete], sender=ModelAlias)
@receiver([post_save, post_delete], sender=CatalogSettings)
def forget_aliases(sender, **kwargs):
    alias_table.invalidate()
