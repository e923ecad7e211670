"""Settings for ollamaweb, read from the environment (see README "Settings")."""

import os
import secrets
import tempfile
from datetime import timedelta
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


def envbool(name, default=False):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def envint(name, default):
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


def envfloat(name, default):
    value = os.environ.get(name, "")
    return float(value) if value.strip() else default


def envstr(name, default=""):
    return os.environ.get(name, default).strip()


def envlist(name, default=""):
    """A comma-separated list, without blanks."""
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def create_private_file(path, content: str = "") -> bool:
    """Create `path` readable and writable by its owner only (0600) if it does not exist yet.

    The mode is set at creation (no window in which the file is world-readable). Returns whether
    the file was created; a missing folder is left for the caller to report.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except (FileExistsError, FileNotFoundError):
        return False
    with os.fdopen(fd, "w") as file:
        file.write(content)
    return True


def _secret_key_file():
    """Where the generated secret key is kept when DJANGO_SECRET_KEY is not given (else None)."""
    if os.environ.get("DJANGO_SECRET_KEY"):
        return None
    return Path(os.environ.get("DJANGO_SECRET_KEY_FILE") or BASE_DIR / ".secret_key")


def _secret_key(path):
    """DJANGO_SECRET_KEY, or a random key kept in DJANGO_SECRET_KEY_FILE (default `.secret_key`),
    created private (0600), so a dev install needs no set-up.

    API keys are hashed with a key derived from it: changing it invalidates every API key.
    """
    if path is None:
        return os.environ["DJANGO_SECRET_KEY"]
    create_private_file(path, secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY_FILE = _secret_key_file()
SECRET_KEY = _secret_key(SECRET_KEY_FILE)
DEBUG = envbool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = envlist("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = envlist("DJANGO_CSRF_TRUSTED_ORIGINS")


def _proxy_ssl_header(value: str):
    """`X-Forwarded-Proto: https` -> ("HTTP_X_FORWARDED_PROTO", "https"); empty -> None."""
    if not value.strip():
        return None
    name, sep, expected = value.partition(":")
    if not sep or not name.strip() or not expected.strip():
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(
            f"DJANGO_SECURE_PROXY_SSL_HEADER must look like 'X-Forwarded-Proto: https', not {value!r}."
        )
    return "HTTP_" + name.strip().upper().replace("-", "_"), expected.strip()


# HTTPS (README "Production"). All off by default, so `make run` works over plain http on a
# laptop. DJANGO_HTTPS=1 turns on the SSL redirect and secure cookies at once; each variable
# below can still override its part. Trust the proxy header only behind a proxy that sets it.
HTTPS = envbool("DJANGO_HTTPS", False)
SECURE_SSL_REDIRECT = envbool("DJANGO_SECURE_SSL_REDIRECT", HTTPS)
SESSION_COOKIE_SECURE = envbool("DJANGO_SESSION_COOKIE_SECURE", HTTPS)
CSRF_COOKIE_SECURE = envbool("DJANGO_CSRF_COOKIE_SECURE", HTTPS)
SECURE_HSTS_SECONDS = envint("DJANGO_SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = envbool("DJANGO_SECURE_HSTS_PRELOAD", False)
SECURE_PROXY_SSL_HEADER = _proxy_ssl_header(os.environ.get("DJANGO_SECURE_PROXY_SSL_HEADER", ""))

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "channels",
    "ollamaweb.keys",
    "ollamaweb.catalog",
    "ollamaweb.usage",
    "ollamaweb.quotas",
    "ollamaweb.backends",
    "ollamaweb.conversations",
    "ollamaweb.metrics",
    "ollamaweb.teams",
    "ollamaweb.audit",
    "ollamaweb.sso",
    "compat",
    "ollamaweb.portal",
    # Sign-in throttling (portal and admin); last, as django-axes asks.
    "axes",
]

# The portal's middleware. The API is served by a separate handler without middleware
# (ollamaweb/gateway/handler.py): session, CSRF and auth middleware cost a thread hop each per request.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "ollamaweb.portal.zones.UserTimeZoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "ollamaweb.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]
ASGI_APPLICATION = "ollamaweb.asgi.application"

DATABASES = {"default": dj_database_url.parse(os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Create the database file private (0600) before SQLite creates it with the umask's mode; its
    # -wal and -shm files take the database file's mode.
    if DATABASES["default"]["NAME"] and DATABASES["default"]["NAME"] != ":memory:":
        create_private_file(DATABASES["default"]["NAME"])
    # Keep each thread's connection: opening SQLite again (and re-running the pragmas) per query
    # batch costs more than the query. close_old_connections() still drops broken ones.
    DATABASES["default"]["CONN_MAX_AGE"] = None
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # Tests run the gateway in a thread beside the test code: a file (not shared memory) lets
    # both use WAL and the busy timeout.
    DATABASES["default"]["TEST"] = {
        "NAME": os.environ.get(
            "DJANGO_TEST_DB", str(Path(tempfile.gettempdir()) / f"ollamaweb-test-{os.getpid()}.sqlite3")
        )
    }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Under ASGI each request's sync work runs in a fresh thread: only a pool reuses connections.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "pool": {
            "min_size": 2,
            "max_size": envint("DATABASE_POOL_SIZE", 20),
            "timeout": envfloat("DATABASE_POOL_TIMEOUT", 10.0),  # waiting for a connection, then an error
        },
        "connect_timeout": 5,
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "")
REDIS_MAX_CONNECTIONS = envint("OLLAMAWEB_REDIS_MAX_CONNECTIONS", 64)
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [REDIS_URL]}}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# Sign-in throttling with django-axes, for the portal's and the admin's sign-in forms: after
# OLLAMAWEB_LOGIN_FAILURE_LIMIT failed attempts, further attempts get a 429 page for
# OLLAMAWEB_LOGIN_LOCKOUT_MINUTES, even with the right password. OLLAMAWEB_LOGIN_LOCKOUT_BY says
# what is counted: comma-separated groups, `+` joining the parts of one (default: a user name from
# one client address). The client address is REMOTE_ADDR: behind a proxy, let the ASGI server set
# it from the proxy's header (uvicorn --proxy-headers --forwarded-allow-ips=PROXY); a header the
# client sends is never trusted here.
AXES_ENABLED = envbool("OLLAMAWEB_LOGIN_THROTTLE", True)
AXES_FAILURE_LIMIT = envint("OLLAMAWEB_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=envfloat("OLLAMAWEB_LOGIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [
    group.split("+") if "+" in group else group
    for group in envlist("OLLAMAWEB_LOGIN_LOCKOUT_BY", "username+ip_address")
]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "ollamaweb.portal.views.account.locked_out"
AXES_DISABLE_ACCESS_LOG = True  # only failures are kept: no row per successful sign-in
AXES_IPWARE_META_PRECEDENCE_ORDER = ["REMOTE_ADDR"]


def _email_settings(environ) -> dict:
    """E-mail (password resets) from EMAIL_URL, else EMAIL_HOST & co., else printed on the console.

    EMAIL_URL: `smtp://user:password@host:25`, `smtp+tls://…:587` (STARTTLS), `smtps://…:465`
    (TLS from the start), `console://`, `file:///folder` or `memory://`; user and password are
    percent-decoded.
    """
    from urllib.parse import unquote, urlsplit

    url = environ.get("EMAIL_URL", "").strip()
    host = environ.get("EMAIL_HOST", "").strip()
    if url:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme == "console":
            return {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}
        if scheme == "memory":
            return {"EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend"}
        if scheme == "file":
            return {"EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend", "EMAIL_FILE_PATH": parts.path}
        if scheme not in ("smtp", "smtp+tls", "smtps", "smtp+ssl"):
            from django.core.exceptions import ImproperlyConfigured

            raise ImproperlyConfigured(f"EMAIL_URL: unknown scheme {scheme!r} (smtp, smtp+tls, smtps, console, file).")
        ssl = scheme in ("smtps", "smtp+ssl")
        return {
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": parts.hostname or "localhost",
            "EMAIL_PORT": parts.port or (465 if ssl else 587 if scheme == "smtp+tls" else 25),
            "EMAIL_HOST_USER": unquote(parts.username or ""),
            "EMAIL_HOST_PASSWORD": unquote(parts.password or ""),
            "EMAIL_USE_TLS": scheme == "smtp+tls",
            "EMAIL_USE_SSL": ssl,
        }
    if host:
        return {
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": host,
            "EMAIL_PORT": int(environ.get("EMAIL_PORT") or 25),
            "EMAIL_HOST_USER": environ.get("EMAIL_HOST_USER", ""),
            "EMAIL_HOST_PASSWORD": environ.get("EMAIL_HOST_PASSWORD", ""),
            "EMAIL_USE_TLS": envbool("EMAIL_USE_TLS", False),
            "EMAIL_USE_SSL": envbool("EMAIL_USE_SSL", False),
        }
    return {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}


globals().update(_email_settings(os.environ))
EMAIL_TIMEOUT = envfloat("EMAIL_TIMEOUT", 10.0)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "ollamaweb@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
PASSWORD_RESET_TIMEOUT = envint("OLLAMAWEB_PASSWORD_RESET_SECONDS", 3 * 3600)
# At most one password-reset e-mail per account in this many seconds (0: no limit).
PASSWORD_RESET_INTERVAL = envint("OLLAMAWEB_PASSWORD_RESET_INTERVAL", 300)

# Flash messages live in the server-side session, not in a cookie (Django's default keeps them
# in a signed, readable cookie): whatever a message says never travels to the browser and back.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"

# Single sign-on with OpenID Connect (README "Single sign-on"): on when an issuer (or a discovery
# URL) and a client id are set. Endpoints and keys come from the provider's discovery document.
# django-axes first (it refuses locked-out sign-ins before any backend checks a password).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "ollamaweb.sso.backend.SsoBackend",
    "ollamaweb.sso.backend.LocalBackend",
]
OLLAMAWEB_LOCAL_LOGIN = envbool("OLLAMAWEB_LOCAL_LOGIN", True)  # 0: only single sign-on (and no passwords)
OIDC_ISSUER = envstr("OLLAMAWEB_OIDC_ISSUER")
OIDC_DISCOVERY_URL = envstr("OLLAMAWEB_OIDC_DISCOVERY_URL")
OIDC_RP_CLIENT_ID = envstr("OLLAMAWEB_OIDC_CLIENT_ID")
OIDC_RP_CLIENT_SECRET = os.environ.get("OLLAMAWEB_OIDC_CLIENT_SECRET", "")
OIDC_RP_SCOPES = envstr("OLLAMAWEB_OIDC_SCOPES", "openid email profile")
OIDC_RP_SIGN_ALGO = envstr("OLLAMAWEB_OIDC_SIGN_ALGO", "RS256")
OIDC_USERNAME_CLAIM = envstr("OLLAMAWEB_OIDC_USERNAME_CLAIM", "preferred_username")
OIDC_EMAIL_CLAIM = envstr("OLLAMAWEB_OIDC_EMAIL_CLAIM", "email")
OIDC_GROUPS_CLAIM = envstr("OLLAMAWEB_OIDC_GROUPS_CLAIM")
OIDC_STAFF_GROUPS = os.environ.get("OLLAMAWEB_OIDC_STAFF_GROUPS", "")
OIDC_TEAMS = os.environ.get("OLLAMAWEB_OIDC_TEAMS", "")  # "*" or "group=Team name,group2=Other team"
OIDC_CREATE_USER = envbool("OLLAMAWEB_OIDC_CREATE_USERS", True)
OIDC_LINK_BY_EMAIL = envbool("OLLAMAWEB_OIDC_LINK_BY_EMAIL", True)
OIDC_LABEL = envstr("OLLAMAWEB_OIDC_LABEL", "single sign-on")
OIDC_USE_PKCE = envbool("OLLAMAWEB_OIDC_PKCE", True)
OIDC_TIMEOUT = envfloat("OLLAMAWEB_OIDC_TIMEOUT", 10.0)
OIDC_AUTHENTICATION_CALLBACK_URL = "portal:sso-callback"
LOGIN_REDIRECT_URL_FAILURE = "/accounts/login/"
# Audit rows take the client address from X-Forwarded-For (first entry) only behind a trusted proxy.
AUDIT_TRUST_FORWARDED_FOR = envbool("OLLAMAWEB_AUDIT_TRUST_FORWARDED_FOR", False)
# Portal sign-up: "off" (default: accounts are made by an admin), "invite" (only with an invite
# link from a staff member), or "approval" (anyone may sign up; the account stays inactive until
# an admin activates it; invite links still give an active account at once).
OLLAMAWEB_SELF_REGISTRATION = envstr("OLLAMAWEB_SELF_REGISTRATION", "off").lower() or "off"

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("OLLAMAWEB_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
WHITENOISE_USE_FINDERS = True

REST_FRAMEWORK = {
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("OLLAMAWEB_LOG_LEVEL", "INFO")},
    # The HTTP clients log every request's URL at INFO: the image URLs users send (which may carry
    # tokens) and every backend call. Keep them to warnings whatever OLLAMAWEB_LOG_LEVEL says.
    "loggers": {
        "django.request": {"level": "ERROR"},
        **{name: {"level": "WARNING"} for name in ("httpx", "httpx2", "httpcore", "httpcore2")},
        "axes.apps": {"level": "WARNING"},  # its start-up banner on every command
    },
}

# --- ollamaweb ---------------------------------------------------------------------------

# Comma-separated Ollama servers; `host:port` without a scheme is accepted, as Ollama's CLI does.
OLLAMA_HOST = os.environ.get("OLLAMA_HOST", "http://127.0.0.1:11434")
OLLAMA_CONNECT_TIMEOUT = envfloat("OLLAMA_CONNECT_TIMEOUT", 5.0)
# Longest silence allowed between two chunks from Ollama; it must cover loading a model.
OLLAMA_READ_TIMEOUT = envfloat("OLLAMA_READ_TIMEOUT", 300.0)
OLLAMA_POOL_TIMEOUT = envfloat("OLLAMA_POOL_TIMEOUT", 30.0)
OLLAMA_MAX_CONNECTIONS = envint("OLLAMA_MAX_CONNECTIONS", 1024)
# Generation requests in set-up at once per process, the others waiting in arrival order
# (ollamaweb/gateway/setup_gate.py); 0: no limit.
SETUP_GATE_SIZE = envint("OLLAMAWEB_SETUP_GATE_SIZE", 128)

# How long a verified API key is trusted without looking at the database again (seconds).
API_KEY_CACHE_TTL = envfloat("OLLAMAWEB_KEY_CACHE_TTL", 1.0)
# Seconds each process trusts its copy of the alias table and the quota policies.
CONFIG_CACHE_TTL = envfloat("OLLAMAWEB_CONFIG_CACHE_TTL", 1.0)
# Ollama CLI signatures (OLLAMA_AUTH=1; ollamaweb/keys/signatures.py): how far `ts` may be from the
# server's clock, and how often one signature may be used within that time.
SIGNATURE_MAX_AGE = envint("OLLAMAWEB_SIGNATURE_MAX_AGE", 120)
SIGNATURE_MAX_USES = envint("OLLAMAWEB_SIGNATURE_MAX_USES", 4)
# Largest `n` accepted on chat and text completions (each choice is one backend call).
MAX_CHOICES = envint("OLLAMAWEB_MAX_CHOICES", 8)
# Largest request body accepted on /v1 (bytes); images travel inline as base64.
DATA_UPLOAD_MAX_MEMORY_SIZE = envint("OLLAMAWEB_MAX_BODY_BYTES", 64 * 1024 * 1024)
# Fetch http(s) image URLs for vision requests (Ollama accepts only base64 data URLs).
# Tokens a request is reserved per image it sends (vision models spend hundreds on one image).
IMAGE_TOKEN_COST = envint("OLLAMAWEB_IMAGE_TOKEN_COST", 1024)
# Images one request may send (each may be decoded and run through the model's vision encoder).
MAX_IMAGES = envint("OLLAMAWEB_MAX_IMAGES", 16)
IMAGE_FETCH_ENABLED = envbool("OLLAMAWEB_IMAGE_FETCH", True)
IMAGE_FETCH_ALLOW_PRIVATE = envbool("OLLAMAWEB_IMAGE_FETCH_ALLOW_PRIVATE", False)
IMAGE_FETCH_MAX_BYTES = envint("OLLAMAWEB_IMAGE_FETCH_MAX_BYTES", 20 * 1024 * 1024)
IMAGE_FETCH_TIMEOUT = envfloat("OLLAMAWEB_IMAGE_FETCH_TIMEOUT", 10.0)
# Request-log writer: rows per batch and longest wait before a partial batch is written.
GC_YOUNG_THRESHOLD = envint("OLLAMAWEB_GC_YOUNG_THRESHOLD", 50_000)  # see asgi.py
LOG_BATCH_SIZE = envint("OLLAMAWEB_LOG_BATCH_SIZE", 200)
LOG_FLUSH_INTERVAL = envfloat("OLLAMAWEB_LOG_FLUSH_INTERVAL", 0.25)
# Records kept in memory while the database is down; beyond that (and at shutdown) they go to files here.
LOG_MAX_PENDING = envint("OLLAMAWEB_LOG_MAX_PENDING", 50_000)
LOG_SPOOL_DIR = os.environ.get("OLLAMAWEB_LOG_SPOOL_DIR", str(BASE_DIR / "spool"))
# Journal finished records there too, so a killed process loses only the requests it was serving.
LOG_JOURNAL = envbool("OLLAMAWEB_LOG_JOURNAL", True)

# Quotas: where counters live ("redis" when REDIS_URL is set, else "database"; set to "database"
# to keep them in the database even with Redis), what to do when that store is down, and how
# many completion tokens to reserve (and allow) when a quota applies and max_tokens is absent.
QUOTA_STORE = os.environ.get("OLLAMAWEB_QUOTA_STORE", "auto")
QUOTA_FAIL_OPEN = envbool("OLLAMAWEB_QUOTA_FAIL_OPEN", False)
QUOTA_DEFAULT_MAX_TOKENS = envint("OLLAMAWEB_QUOTA_DEFAULT_MAX_TOKENS", 4096)
# GPU-time quotas reserve an estimate of a call's GPU time: these milliseconds per prompt and per
# output token until a model's calls have been measured (high on purpose), then what was measured.
GPU_MS_PER_PROMPT_TOKEN = envfloat("OLLAMAWEB_GPU_MS_PER_PROMPT_TOKEN", 2.0)
GPU_MS_PER_OUTPUT_TOKEN = envfloat("OLLAMAWEB_GPU_MS_PER_OUTPUT_TOKEN", 50.0)
# Concurrency slots and token reservations held by a process that died without releasing them are
# given back once its heartbeat (renewed every third of this) is this many seconds old (every store).
QUOTA_LEASE_SECONDS = envint("OLLAMAWEB_QUOTA_LEASE_SECONDS", 15)

# Backends: seconds between health checks in each process (0 turns them off), how long one may
# take, and the queue in front of a backend at its max_concurrent (length, longest wait in seconds).
BACKEND_HEALTH_INTERVAL = envfloat("OLLAMAWEB_HEALTH_INTERVAL", 5.0)
BACKEND_HEALTH_TIMEOUT = envfloat("OLLAMAWEB_HEALTH_TIMEOUT", 5.0)
BACKEND_QUEUE_SIZE = envint("OLLAMAWEB_BACKEND_QUEUE_SIZE", 256)
BACKEND_QUEUE_TIMEOUT = envfloat("OLLAMAWEB_BACKEND_QUEUE_TIMEOUT", 30.0)

# Stored responses of /v1/responses (for previous_response_id, retrieval and input_items): days
# they are kept (0 = forever; `manage.py prunelogs` deletes older ones, and they are not served
# after that), and the longest previous_response_id chain rebuilt for one request.
RESPONSES_RETENTION_DAYS = envint("OLLAMAWEB_RESPONSES_RETENTION_DAYS", 30)
RESPONSES_MAX_CHAIN = envint("OLLAMAWEB_RESPONSES_MAX_CHAIN", 200)

# Token-id inputs (embeddings, completions) are read back into text with this tiktoken encoding.
TOKEN_ID_ENCODING = os.environ.get("OLLAMAWEB_TOKEN_ENCODING", "cl100k_base")

# Observability: Prometheus metrics at /metrics (OLLAMAWEB_METRICS=0 turns them off); with a token
# set, /metrics wants `Authorization: Bearer <token>`, without one it is open. Traces: OTEL_* vars.
METRICS_ENABLED = envbool("OLLAMAWEB_METRICS", True)
METRICS_TOKEN = os.environ.get("OLLAMAWEB_METRICS_TOKEN", "")
# The request metrics' `team` label names at most this many teams per process (the rest: "other"; 0: no team label values).
METRICS_MAX_TEAMS = envint("OLLAMAWEB_METRICS_MAX_TEAMS", 50)
# Alerts (webhooks configured in the admin): seconds between evaluation rounds in each process
# (0 turns the background task off), delivery attempts, the first retry's delay (doubling), timeout.
ALERT_INTERVAL = envfloat("OLLAMAWEB_ALERT_INTERVAL", 10.0)
ALERT_MAX_ATTEMPTS = envint("OLLAMAWEB_ALERT_MAX_ATTEMPTS", 6)
ALERT_RETRY_SECONDS = envfloat("OLLAMAWEB_ALERT_RETRY_SECONDS", 10.0)
ALERT_TIMEOUT = envfloat("OLLAMAWEB_ALERT_TIMEOUT", 10.0)
