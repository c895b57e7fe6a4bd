"""The `kehu` command: every Django management command, under one friendly name."""

import os
import sys


def main() -> None:
    # Whatever kehu writes (database, -wal/-shm, keys, uploads, backups) is for this account's eyes only.
    os.umask(0o077)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kehu.settings")
    from django.core.management import execute_from_command_line

    argv = sys.argv[:]
    argv[0] = "kehu"
    execute_from_command_line(argv)


if __name__ == "__main__":
    main()
