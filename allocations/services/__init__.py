"""Every write of the domain lives here, one use case per function, each in one transaction."""
