from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from ollamaweb.conversations.services import prune_expired
from ollamaweb.quotas.models import UsageCounter
from ollamaweb.usage.models import RequestLog

BATCH = 10_000


class Command(BaseCommand):
    help = (
        "Delete request-log rows older than DAYS days (usage rollups are kept), and stored responses "
        "older than OLLAMAWEB_RESPONSES_RETENTION_DAYS."
    )

    def add_arguments(self, parser):
        parser.add_argument("--older-than", type=int, required=True, metavar="DAYS")

    def handle(self, older_than, **options):
        if older_than < 1:
            raise CommandError("--older-than must be at least 1 day.")
        cutoff = timezone.now() - timedelta(days=older_than)
        deleted = 0
        while True:  # in batches, so a huge table never holds one long lock
            ids = list(RequestLog.objects.filter(created_at__lt=cutoff).values_list("pk", flat=True)[:BATCH])
            if not ids:
                break
            deleted += RequestLog.objects.filter(pk__in=ids).delete()[0]
        counters = UsageCounter.objects.filter(updated_at__lt=timezone.now() - timedelta(days=40)).delete()[0]
        responses = prune_expired()
        self.stdout.write(
            f"Deleted {deleted} request-log rows older than {older_than} days and {counters} stale quota counters."
        )
        self.stdout.write(
            f"Deleted {responses} stored responses older than {settings.RESPONSES_RETENTION_DAYS} days."
            if settings.RESPONSES_RETENTION_DAYS > 0
            else "Stored responses are kept forever (OLLAMAWEB_RESPONSES_RETENTION_DAYS=0)."
        )
