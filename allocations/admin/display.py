"""Numbers shown as a person reads them in the admin: ``12.34 %``, not ``0.12340000000000001``;
``1,234,567.89 USD``, not ``1234567.89``.

``ReadableFields`` swaps each field named in ``percent_fields`` (fractions of equity) or
``money_fields`` (amounts, in the currency of the row's portfolio, found by ``portfolio_path``)
for a read-only display of it (``allocations.display``) in the list and on the row's page;
ordering by the field still works.
"""

from __future__ import annotations

from django.contrib import admin

from allocations import display


def _percent_of(name: str):
    @admin.display(description=name.replace("_", " "), ordering=name)
    def shown(self, obj):
        return display.percent(getattr(obj, name))

    return shown


def _money_of(name: str):
    @admin.display(description=name.replace("_", " "), ordering=name)
    def shown(self, obj):
        return display.money(getattr(obj, name), self._portfolio_of(obj).base_currency)

    return shown


class ReadableFields:
    percent_fields: tuple[str, ...] = ()
    money_fields: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in cls.percent_fields:
            setattr(cls, f"{name}_shown", _percent_of(name))
        for name in cls.money_fields:
            setattr(cls, f"{name}_shown", _money_of(name))

    def _readable(self, names) -> list:
        swapped = {*self.percent_fields, *self.money_fields}
        out = []
        for name in names:
            shown = f"{name}_shown" if name in swapped else name
            if shown not in out:
                out.append(shown)
        return out

    def get_list_display(self, request):
        return self._readable(super().get_list_display(request))

    def get_fields(self, request, obj=None):
        return self._readable(super().get_fields(request, obj))

    def get_readonly_fields(self, request, obj=None):
        shown = (f"{n}_shown" for n in (*self.percent_fields, *self.money_fields))
        return [*super().get_readonly_fields(request, obj), *shown]
