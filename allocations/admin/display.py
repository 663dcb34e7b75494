"""Fractions of equity shown as a person reads them in the admin: ``12.34 %``, not ``0.12340000000000001``.

``PercentFields`` swaps each field named in ``percent_fields`` for a read-only display of it
(``allocations.display.percent``) in the list and on the row's page; ordering by the field still works.
"""

from __future__ import annotations

from django.contrib import admin

from allocations import display


def _percent_of(name: str):
    @admin.display(description=name.replace("_", " "), ordering=name)
    def shown(self, obj):
        return display.percent(getattr(obj, name))

    shown.__name__ = f"{name}_percent"
    return shown


class PercentFields:
    percent_fields: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in cls.percent_fields:
            setattr(cls, f"{name}_percent", _percent_of(name))

    def _shown(self, names) -> list:
        out = []
        for name in names:
            shown = f"{name}_percent" if name in self.percent_fields else name
            if shown not in out:
                out.append(shown)
        return out

    def get_list_display(self, request):
        return self._shown(super().get_list_display(request))

    def get_fields(self, request, obj=None):
        return self._shown(super().get_fields(request, obj))

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), *(f"{n}_percent" for n in self.percent_fields)]
