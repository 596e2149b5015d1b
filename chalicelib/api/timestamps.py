"""How each dialect writes an instant. The texts live in chalicelib/services/timestamps.py, so that a service
rendering an API's body (a webhook's) writes them as the API does; routes import them from here."""

from chalicelib.services.timestamps import github_time as github_time
from chalicelib.services.timestamps import gitlab_time as gitlab_time
from chalicelib.services.timestamps import iso as iso
