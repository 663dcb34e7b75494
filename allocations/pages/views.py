"""Dashboard pages: one per use case. Reads through selectors, writes through services.

Every view gets its portfolio from ``access.portfolio_for``, the API's and the admin's rule too (404
when the user may not view it, 403 when they may view it but not act): the role shown on the page is
never trusted, a forged POST is refused before anything is read from it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import NamedTuple

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts import roles
from allocations import display, engine
from allocations.access import actor_of, portfolio_for
from allocations.errors import ConflictError, DomainError, NotPermitted
from allocations.models import AllocationRun, PolicyProposal, Portfolio
from allocations.selectors import dashboard as board
from allocations.selectors.policies import policy_proposal_get, policy_proposal_list
from allocations.selectors.portfolios import user_may
from allocations.selectors.runs import run_get, run_list, schedule_get
from allocations.services.approvals import allocation_run_approve, allocation_run_reject
from allocations.services.policies import policy_proposal_approve, policy_proposal_reject, policy_set_method
from allocations.services.runs import RebalanceRequest, allocation_run_create
from allocations.services.schedules import transition_schedule_cancel

from .forms import ApproveForm, CancelScheduleForm, MethodForm, RebalanceForm, RejectForm

RUN_LINES_PER_PAGE = 50
RUNS_PER_PAGE = 25
PREVIEW_MOVES = 50


def _may(request, portfolio: Portfolio) -> dict[str, bool]:
    user = request.user
    return {
        "rebalance": user_may(user=user, perm=roles.REBALANCE, portfolio=portfolio),
        "manage_policy": user_may(user=user, perm=roles.MANAGE_POLICY, portfolio=portfolio),
        "approve": user_may(user=user, perm=roles.APPROVE, portfolio=portfolio),
    }


def _run_or_404(portfolio: Portfolio, allocation_id: str) -> AllocationRun:
    run = run_get(portfolio=portfolio, public_id=allocation_id)
    if run is None:
        raise Http404(f"no run {allocation_id!r} in this portfolio")
    return run


def _control_error(request, portfolio: Portfolio, form, *, title: str, action: str, status: int = 400):
    """The control again, with the service's (or the form's) errors next to the field."""
    context = {"portfolio": portfolio, "form": form, "title": title, "action": action}
    return render(request, "pages/control.html", context, status=status)


def _control_submit(
    request, portfolio: Portfolio, form, call, *, done: str | Callable, then: str, title: str, action: str
):
    """A control's form posted to its service, ``call(cleaned_data)``: on success ``done`` (formatted
    with the form's data, or called with what the service returned) is flashed and the browser sent
    to ``then``; else ``_control_error``."""
    status = 400
    if form.is_valid():
        try:
            result = call(form.cleaned_data)
        except (DomainError, engine.EngineError) as exc:
            form.add_domain_error(exc)
            status = 403 if isinstance(exc, NotPermitted) else 400  # who asks (four eyes): as the API answers
        else:
            messages.success(request, done(result) if callable(done) else done.format(**form.cleaned_data))
            return redirect(then)
    return _control_error(request, portfolio, form, title=title, action=action, status=status)


# --- pages -------------------------------------------------------------------------------


@login_required
@require_GET
def portfolio_list(request):
    return render(
        request, "pages/portfolio_list.html", {"portfolios": board.portfolio_overview_list(user=request.user)}
    )


@login_required
@require_GET
def dashboard(request, slug):
    portfolio = portfolio_for(request, slug)
    overview = board.portfolio_overview(portfolio=portfolio)
    context = {
        "portfolio": portfolio,
        "overview": overview,
        "may": _may(request, portfolio),
        "pending_runs": run_list(portfolio=portfolio).filter(status=AllocationRun.Status.PENDING_APPROVAL),
        "pending_proposals": policy_proposal_list(portfolio=portfolio).filter(
            status=PolicyProposal.Status.PENDING_APPROVAL
        ),
        "recent_runs": run_list(portfolio=portfolio)[:8],
        "method_form": MethodForm(initial={"method": overview["method"]}),
        "rebalance_form": RebalanceForm(),
        "approve_form": ApproveForm(),
        "reject_form": RejectForm(),
        "cancel_form": CancelScheduleForm(),
        "version": board.dashboard_version(portfolio=portfolio),
    }
    return render(request, "pages/dashboard.html", context)


@login_required
@require_GET
def run_index(request, slug):
    portfolio = portfolio_for(request, slug)
    page = Paginator(run_list(portfolio=portfolio), RUNS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "pages/run_list.html", {"portfolio": portfolio, "page": page})


@login_required
@require_GET
def run_detail(request, slug, allocation_id):
    portfolio = portfolio_for(request, slug)
    run = _run_or_404(portfolio, allocation_id)
    page = Paginator(board.run_moves(run=run), RUN_LINES_PER_PAGE).get_page(request.GET.get("page"))
    explanation = run.explanation or {}
    context = {
        "portfolio": portfolio,
        "run": run,
        "page": page,
        "stages": board.run_stages(run=run, lines=page.object_list),
        "explanation": explanation,
        "signals_applied": explanation.get("signals_applied") or {},
        "signals": explanation.get("signals") or [],
        "fallbacks": explanation.get("fallbacks") or [],
        "notes": explanation.get("notes") or [],
        "trail": board.run_trail(run=run),
        "may": _may(request, portfolio),
        "approve_form": ApproveForm(),
        "reject_form": RejectForm(),
    }
    return render(request, "pages/run_detail.html", context)


# --- the charts' JSON (small views over the dashboard selectors) ---------------------------

DATA = {
    "summary": board.dashboard_summary,
    "allocation": board.allocation_snapshot,
    "history": board.allocation_history,
    "risk": board.risk_panel,
    "schedule": board.schedule_timeline,
}


@login_required
@require_GET
def dashboard_data(request, slug, part):
    if part not in DATA:
        raise Http404(f"no data {part!r}")
    portfolio = portfolio_for(request, slug)
    response = JsonResponse(DATA[part](portfolio=portfolio))
    response["Cache-Control"] = "no-store"
    return response


# --- controls ------------------------------------------------------------------------------


@login_required
@require_POST
def method_set(request, slug):
    portfolio = portfolio_for(request, slug, roles.MANAGE_POLICY)

    def set_method(data):
        policy_set_method(
            portfolio=portfolio, method=data["method"], actor=actor_of(request, via="web"), reason=data["reason"]
        )

    return _control_submit(
        request,
        portfolio,
        MethodForm(request.POST),
        set_method,
        done="Method {method} proposed: it applies when a second risk officer approves it.",
        then=reverse("pages:dashboard", args=[slug]),
        title="Choose the method",
        action=reverse("pages:method", args=[slug]),
    )


@login_required
@require_POST
def rebalance(request, slug):
    """Without ``confirm``: a dry run, shown as the moves it would make. With it: the run itself."""
    portfolio = portfolio_for(request, slug, roles.REBALANCE)
    form = RebalanceForm(request.POST)
    action = reverse("pages:rebalance", args=[slug])
    if not form.is_valid():
        return _control_error(request, portfolio, form, title="Rebalance", action=action)
    data = form.cleaned_data
    key = data["confirm"] or None
    try:
        outcome = allocation_run_create(
            portfolio=portfolio,
            actor=actor_of(request, via="web"),
            request=RebalanceRequest(
                allocation_method=data["allocation_method"] or None,
                force_rebalance=data["force_rebalance"],
                dry_run=key is None,
                idempotency_key=f"web:{key}" if key else None,
                trigger=AllocationRun.Trigger.DASHBOARD,
                previewed_digest=(data["inputs_digest"] or None) if key else None,
            ),
        )
    except (DomainError, engine.EngineError) as exc:
        status = 403 if isinstance(exc, NotPermitted) else 409 if isinstance(exc, ConflictError) else 400
        if exc.field == "inputs_digest":  # a stale preview: offer a new preview, not the same refusal again
            form = RebalanceForm(
                {"allocation_method": data["allocation_method"], "force_rebalance": data["force_rebalance"]}
            )
            form.is_valid()
        form.add_domain_error(exc)
        return _control_error(request, portfolio, form, title="Rebalance", action=action, status=status)
    if key is None:
        return _preview(request, portfolio, form, outcome)
    outcome_words = display.run_outcome_words(outcome.status, steps=len(outcome.transition_schedule))
    messages.success(request, f"Rebalance: {outcome_words}.")
    return redirect("pages:run", slug=slug, allocation_id=outcome.allocation_id)


def _preview(request, portfolio, form, outcome):
    current, target = outcome.current_allocation, outcome.target_allocation
    moves = sorted(
        (
            {"code": c, "current": current.get(c, 0.0), "target": t, "move": t - current.get(c, 0.0)}
            for c, t in target.items()
        ),
        key=lambda m: (-abs(m["move"]), m["code"]),
    )
    confirm = RebalanceForm(
        initial={
            **form.cleaned_data,
            "confirm": uuid.uuid4().hex,
            "inputs_digest": outcome.explanation.get("inputs_digest", ""),
        }
    )
    for field in confirm.fields.values():  # confirm exactly what was previewed
        field.widget = forms.HiddenInput()
    context = {
        "portfolio": portfolio,
        "outcome": outcome,
        "explanation": outcome.explanation,
        "moves": moves[:PREVIEW_MOVES],
        "more_moves": max(0, len(moves) - PREVIEW_MOVES),
        "steps": outcome.transition_schedule,
        "form": confirm,
        "method": form.cleaned_data["allocation_method"] or outcome.explanation.get("method"),
    }
    return render(request, "pages/rebalance_preview.html", context)


class _RunDecision(NamedTuple):
    form_class: type
    decide: Callable
    done: str | Callable  # a message, or a function of what the service returned


RUN_DECISIONS = {
    "approve": _RunDecision(
        ApproveForm,
        allocation_run_approve,
        lambda run: f"Run approved: {display.run_outcome_words('applied', steps=run.schedule.steps.count())}.",
    ),
    "reject": _RunDecision(RejectForm, allocation_run_reject, "Run rejected: no fund moved."),
}


@login_required
@require_POST
def run_decide(request, slug, allocation_id, decision: str):
    """A risk officer's ``decision`` (a key of ``RUN_DECISIONS``) on a pending run, through the same
    service as the API and the admin; the form comes back from ``pages:run-<decision>``."""
    form_class, decide, done = RUN_DECISIONS[decision]
    portfolio = portfolio_for(request, slug, roles.APPROVE)
    run = _run_or_404(portfolio, allocation_id)
    return _control_submit(
        request,
        portfolio,
        form_class(request.POST),
        lambda data: decide(run=run, actor=actor_of(request, via="web"), reason=data["reason"]),
        done=done,
        then=reverse("pages:run", args=[slug, allocation_id]),
        title=f"{decision.capitalize()} run {run.public_id}",
        action=reverse(f"pages:run-{decision}", args=[slug, allocation_id]),
    )


@login_required
@require_POST
def schedule_cancel(request, slug, schedule_id):
    portfolio = portfolio_for(request, slug, roles.APPROVE)
    schedule = schedule_get(portfolio=portfolio, schedule_id=schedule_id)
    if schedule is None:
        raise Http404(f"no schedule {schedule_id} in this portfolio")
    return _control_submit(
        request,
        portfolio,
        CancelScheduleForm(request.POST),
        lambda data: transition_schedule_cancel(
            schedule=schedule, actor=actor_of(request, via="web"), reason=data["reason"]
        ),
        done="Schedule cancelled: funds stay where they are.",
        then=reverse("pages:dashboard", args=[slug]),
        title=f"Cancel schedule {schedule_id}",
        action=reverse("pages:schedule-cancel", args=[slug, schedule_id]),
    )


POLICY_DECISIONS = {
    "approve": _RunDecision(ApproveForm, policy_proposal_approve, "Policy proposal approved: a new version applies."),
    "reject": _RunDecision(RejectForm, policy_proposal_reject, "Policy proposal rejected: the policy stays."),
}


@login_required
@require_POST
def policy_proposal_decide(request, slug, proposal_id, decision: str):
    """A second risk officer's ``decision`` on a waiting policy proposal, through the same service as
    the API and the admin."""
    form_class, decide, done = POLICY_DECISIONS[decision]
    portfolio = portfolio_for(request, slug, roles.MANAGE_POLICY)
    proposal = policy_proposal_get(portfolio=portfolio, proposal_id=proposal_id)
    if proposal is None:
        raise Http404(f"no policy proposal {proposal_id} in this portfolio")
    return _control_submit(
        request,
        portfolio,
        form_class(request.POST),
        lambda data: decide(proposal=proposal, actor=actor_of(request, via="web"), reason=data["reason"]),
        done=done,
        then=reverse("pages:dashboard", args=[slug]),
        title=f"{decision.capitalize()} policy proposal {proposal_id}",
        action=reverse(f"pages:policy-proposal-{decision}", args=[slug, proposal_id]),
    )
