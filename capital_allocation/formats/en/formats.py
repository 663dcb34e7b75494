# Times as allocations.display.when writes them: to the minute, with the zone's name
# ("2026-12-04 18:30 UTC"), never English's "Dec. 4, 2026, 6:30 p.m." without a zone.
DATETIME_FORMAT = "Y-m-d H:i T"
SHORT_DATETIME_FORMAT = "Y-m-d H:i T"
