"""`manage.py check --deploy`: the files that hold key material must be private.

The secret-key file keys every API-key hash, and the SQLite database holds those hashes. ollamaweb
creates both with mode 0600; this check finds older installs (or copies) that others can read.
"""

import stat
from pathlib import Path

from django.conf import settings
from django.core.checks import Tags, Warning, register


def _key_material_files() -> list[Path]:
    files = []
    if settings.SECRET_KEY_FILE:
        files.append(Path(settings.SECRET_KEY_FILE))
    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3" and database["NAME"] not in ("", ":memory:"):
        name = Path(database["NAME"])
        files += [name, name.with_name(name.name + "-wal"), name.with_name(name.name + "-shm")]
    return [path for path in files if path.is_file()]


@register(Tags.security, deploy=True)
def check_private_files(app_configs=None, **kwargs):
    warnings = []
    for path in _key_material_files():
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            warnings.append(
                Warning(
                    f"{path} can be read or written by other users; it holds API-key material.",
                    hint=f"chmod 600 {path}*",
                    id="ollamaweb.W001",
                )
            )
    return warnings
