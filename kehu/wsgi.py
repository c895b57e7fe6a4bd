import os

from django.core.wsgi import get_wsgi_application

# Under another WSGI server (gunicorn, uWSGI…) too, files kehu creates are private (see kehu/cli.py).
os.umask(0o077)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kehu.settings")
application = get_wsgi_application()
