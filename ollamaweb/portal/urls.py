from django.urls import path

from .views import account, explorer, keys, models, ollama_keys, playground, quickstart, staff, usage

app_name = "portal"

urlpatterns = [
    path("", usage.dashboard, name="dashboard"),
    path("requests/", usage.requests_table, name="requests"),
    path("usage.csv", usage.usage_csv, name="usage-csv"),
    path("keys/", keys.keys, name="keys"),
    path("keys/<int:pk>/revoke/", keys.revoke_key, name="revoke-key"),
    path("keys/ollama/", ollama_keys.ollama_keys, name="ollama-keys"),
    path("keys/ollama/<int:pk>/remove/", ollama_keys.remove_ollama_key, name="remove-ollama-key"),
    path("models/", models.models, name="models"),
    path("playground/", playground.playground, name="playground"),
    path("playground/key/", playground.playground_key, name="playground-key"),
    path("quickstart/", quickstart.quickstart, name="quickstart"),
    path("staff/", staff.overview, name="staff"),
    path("staff/feed/", staff.feed, name="feed"),
    path("staff/requests/", explorer.requests, name="explorer"),
    path("staff/requests/<int:pk>/", explorer.request_detail, name="request-detail"),
    path("staff/invites/", staff.invites, name="invites"),
    path("staff/invites/<int:pk>/delete/", staff.delete_invite, name="delete-invite"),
    path("accounts/login/", account.login_view, name="login"),
    path("accounts/logout/", account.logout_view, name="logout"),
    path("accounts/password/", account.password_change, name="password-change"),
    path("accounts/password/done/", account.password_change_done, name="password-change-done"),
    path("accounts/password/reset/", account.password_reset, name="password-reset"),
    path("accounts/password/reset/sent/", account.password_reset_done, name="password-reset-done"),
    path("accounts/password/reset/<uidb64>/<token>/", account.password_reset_confirm, name="password-reset-confirm"),
    path("accounts/password/reset/complete/", account.password_reset_complete, name="password-reset-complete"),
    path("accounts/register/", account.register, name="register"),
    path("accounts/register/<str:token>/", account.register, name="register-invite"),
]
