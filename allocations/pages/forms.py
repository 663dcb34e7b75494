"""The dashboard's forms: shape and type only; the services decide the rest (their errors land on a field)."""

from __future__ import annotations

from django import forms

from allocations import engine
from allocations.errors import DomainError

REASON = {"max_length": 2000, "widget": forms.TextInput(attrs={"size": 40})}


class DomainErrorMixin:
    def add_domain_error(self, error: DomainError | engine.EngineError) -> None:
        """Show the service's (or the engine's) message next to the field it names (else above the
        form: a hidden field's errors would not be seen), as the API answers it in a 400."""
        field = error.field if error.field in self.fields else None
        if field is not None and self.fields[field].widget.is_hidden:
            field = None
        for message in error.errors if isinstance(error, DomainError) else [str(error)]:
            self.add_error(field, message)


class MethodForm(DomainErrorMixin, forms.Form):
    method = forms.ChoiceField(choices=[(m, m) for m in engine.METHODS])
    reason = forms.CharField(required=True, **REASON)  # a proposal says why, for the second risk officer


class RebalanceForm(DomainErrorMixin, forms.Form):
    allocation_method = forms.ChoiceField(
        choices=[("", "the policy's")] + [(m, m) for m in engine.METHODS], required=False, label="Method"
    )
    force_rebalance = forms.BooleanField(required=False, label="Apply the target at once")
    confirm = forms.CharField(required=False, widget=forms.HiddenInput)  # the preview's idempotency key
    # what the preview computed from: the confirm runs only on the same inputs (the service checks)
    inputs_digest = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)

    def clean(self):
        data = super().clean()
        if data.get("confirm") and not data.get("inputs_digest"):
            raise forms.ValidationError("a rebalance is confirmed from its preview: preview it first")
        return data


class ApproveForm(DomainErrorMixin, forms.Form):
    reason = forms.CharField(required=True, **REASON)  # an approval moves money: it says why, as a rejection does


class RejectForm(DomainErrorMixin, forms.Form):
    reason = forms.CharField(required=True, **REASON)


class CancelScheduleForm(DomainErrorMixin, forms.Form):
    reason = forms.CharField(required=False, **REASON)  # the service requires it, in the API's words
