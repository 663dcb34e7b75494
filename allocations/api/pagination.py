"""Every list of the API: ``limit`` rows (default 50, at most 1,000) from ``offset``; documented so."""

from rest_framework.pagination import LimitOffsetPagination


class ApiPagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 1000

    def get_schema_operation_parameters(self, view):
        limit, offset = super().get_schema_operation_parameters(view)
        limit["description"] = (
            f"Rows per page: {self.default_limit} when left out; a larger limit than {self.max_limit} answers "
            f"{self.max_limit} rows."
        )
        limit["schema"] = {"type": "integer", "minimum": 1, "maximum": self.max_limit, "default": self.default_limit}
        offset["description"] = "Rows to skip (0 for the first page); `next` and `previous` link the pages."
        offset["schema"] = {"type": "integer", "minimum": 0, "default": 0}
        return [limit, offset]
