# Issue 21 (hardening round 3), part B. Filled in by that part's work; empty until then.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("allocations", "0017_audit_recorded_and_effective_time")]

    operations = []
