"""The admin's forms for rows with a code and a name: no invisible or direction-changing characters."""

from __future__ import annotations

from django import forms

from allocations.text_checks import invisible_problem

CHECKED_FIELDS = ("code", "slug", "name")


class VisibleTextForm(forms.ModelForm):
    """A model form that refuses a code, slug or name holding a bidi control or a zero-width
    character (``allocations.text_checks``), next to the field, as the services refuse them."""

    def clean(self):
        cleaned = super().clean()
        for name in CHECKED_FIELDS:
            problem = invisible_problem(cleaned.get(name), name)
            if problem is not None:
                self.add_error(name, problem)
        return cleaned
