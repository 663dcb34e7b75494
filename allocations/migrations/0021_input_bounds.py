# Issue 21 (hardening round 3), part E. Filled in by that part's work; empty until then.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("allocations", "0020_operations")]

    operations = []
