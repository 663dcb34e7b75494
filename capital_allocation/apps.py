from django.apps import AppConfig


class OpsConfig(AppConfig):
    """The project package as an app: connects the metrics and log-context hooks (no models)."""

    name = "capital_allocation"
    label = "capital_allocation_ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        from capital_allocation.observability import connect

        connect()
