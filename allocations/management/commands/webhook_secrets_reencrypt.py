from django.core.management.base import BaseCommand

from allocations.services.webhook_endpoints import webhook_secrets_reencrypt


class Command(BaseCommand):
    help = (
        "Encrypt every webhook secret again under the current WEBHOOK_SECRET_KEY (after changing it, with the "
        "old key in WEBHOOK_SECRET_KEY_FALLBACKS); then the fallback can be removed."
    )

    def handle(self, *args, **options):
        count = webhook_secrets_reencrypt()
        self.stdout.write(f"{count} webhook secret(s) encrypted under the current key")
