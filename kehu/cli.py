"""The `kehu` command: every Django management command, under one friendly name."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kehu.settings")
    from django.core.management import execute_from_command_line

    argv = sys.argv[:]
    argv[0] = "kehu"
    execute_from_command_line(argv)


if __name__ == "__main__":
    main()
