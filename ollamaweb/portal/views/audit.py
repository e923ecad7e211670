"""The audit log for staff: every staff and team-admin action, sign-ins and failed sign-ins, with filters."""

from datetime import datetime, time

from django import forms
from django.core.paginator import Paginator
from django.shortcuts import render
from django.utils import timezone

from ollamaweb.audit.models import AuditEvent

from ..security import page

PAGE_SIZE = 50


class AuditFilterForm(forms.Form):
    actor = forms.CharField(required=False, max_length=150, label="Who")
    action = forms.CharField(
        required=False,
        max_length=64,
        help_text="e.g. key.revoke, or key. for every key action",
        widget=forms.TextInput(attrs={"list": "audit-actions"}),
    )
    target = forms.CharField(required=False, max_length=200, label="Target")
    source = forms.ChoiceField(required=False, choices=[("", "any"), *AuditEvent.Source.choices], label="From")
    ip = forms.CharField(required=False, max_length=64, label="IP address")
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), label="From day")
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), label="To day")

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


def filtered(events, data: dict):
    if data.get("actor"):
        events = events.filter(actor_name__icontains=data["actor"])
    if data.get("action"):
        action = data["action"].strip()
        events = events.filter(action__startswith=action) if action.endswith(".") else events.filter(action=action)
    if data.get("target"):
        events = events.filter(target_repr__icontains=data["target"])
    if data.get("source"):
        events = events.filter(source=data["source"])
    if data.get("ip"):
        events = events.filter(ip=data["ip"].strip())
    zone = timezone.get_current_timezone()
    if data.get("since"):
        events = events.filter(created_at__gte=datetime.combine(data["since"], time.min, zone))
    if data.get("until"):
        events = events.filter(created_at__lte=datetime.combine(data["until"], time.max, zone))
    return events


@page(staff=True, no_store=True)
def audit_log(request):
    form = AuditFilterForm(request.GET or None)
    events = AuditEvent.objects.all()
    if form.is_bound and form.is_valid():
        events = filtered(events, form.cleaned_data)
    paginator = Paginator(events, PAGE_SIZE)
    page_obj = paginator.get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "section": "audit",
        "form": form,
        "page_obj": page_obj,
        "events": page_obj.object_list,
        "query": query.urlencode(),
        "actions": AuditEvent.objects.order_by("action").values_list("action", flat=True).distinct(),
    }
    return render(request, "portal/staff/audit.html", context)
