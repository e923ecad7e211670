from django.urls import path

from .views import account, keys, models, ollama_keys, playground, quickstart, staff, usage

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
    path("staff/invites/", staff.invites, name="invites"),
    path("staff/invites/<int:pk>/delete/", staff.delete_invite, name="delete-invite"),
    path("accounts/login/", account.login_view, name="login"),
    path("accounts/logout/", account.logout_view, name="logout"),
    path("accounts/password/", account.password_change, name="password-change"),
    path("accounts/password/done/", account.password_change_done, name="password-change-done"),
    path("accounts/register/", account.register, name="register"),
    path("accounts/register/<str:token>/", account.register, name="register-invite"),
]
