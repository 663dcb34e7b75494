# Issue 21 (hardening round 3), part C. Filled in by that part's work; empty until then.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("allocations", "0018_four_eyes_everywhere")]

    operations = []
