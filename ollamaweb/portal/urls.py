from django.urls import path

from .views import account, keys, models, ollama_keys, playground, quickstart, staff, usage, users

app_name = "portal"

urlpatterns = [
    path("", usage.dashboard, name="dashboard"),
    path("requests/", usage.requests_table, name="requests"),
    path("usage.csv", usage.usage_csv, name="usage-csv"),
    path("keys/", keys.keys, name="keys"),
    path("keys/new/", keys.key_created, name="key-created"),
    path("keys/<int:pk>/revoke/", keys.revoke_key_view, name="revoke-key"),
    path("keys/ollama/", ollama_keys.ollama_keys, name="ollama-keys"),
    path("keys/ollama/<int:pk>/remove/", ollama_keys.remove_ollama_key, name="remove-ollama-key"),
    path("models/", models.models, name="models"),
    path("playground/", playground.playground, name="playground"),
    path("playground/key/", playground.playground_key, name="playground-key"),
    path("quickstart/", quickstart.quickstart, name="quickstart"),
    path("staff/", staff.overview, name="staff"),
    path("staff/feed/", staff.feed, name="feed"),
    path("staff/requests/<int:pk>/", staff.request_detail, name="request-detail"),
    path("staff/invites/", staff.invites, name="invites"),
    path("staff/invites/<int:pk>/delete/", staff.delete_invite, name="delete-invite"),
    path("staff/users/", users.user_list, name="users"),
    path("staff/users/new/", users.user_create, name="user-create"),
    path("staff/users/<int:pk>/", users.user_detail, name="user"),
    path("staff/users/<int:pk>/active/", users.user_set_active, name="user-active"),
    path("staff/users/<int:pk>/quota/", users.user_quota, name="user-quota"),
    path("staff/users/<int:pk>/invite/", users.user_invite, name="user-invite"),
    path("staff/users/<int:pk>/keys/<int:key>/revoke/", users.user_revoke_key, name="user-revoke-key"),
    path("staff/users/<int:pk>/keys/<int:key>/quota/", users.user_key_quota, name="user-key-quota"),
    path("accounts/login/", account.login_view, name="login"),
    path("accounts/logout/", account.logout_view, name="logout"),
    path("accounts/password/", account.password_change, name="password-change"),
    path("accounts/password/done/", account.password_change_done, name="password-change-done"),
    path("accounts/profile/", account.profile, name="profile"),
    path("accounts/set-password/<uidb64>/<token>/", account.set_password, name="set-password"),
    path("accounts/set-password/done/", account.set_password_done, name="set-password-done"),
    path("accounts/register/", account.register, name="register"),
    path("accounts/register/<str:token>/", account.register, name="register-invite"),
]
