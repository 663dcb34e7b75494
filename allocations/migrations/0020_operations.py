# Issue 21 (hardening round 3), part D. Filled in by that part's work; empty until then.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("allocations", "0019_webhooks_hardened")]

    operations = []
