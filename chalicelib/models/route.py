"""Host label -> artifact prefix. The embedded site server and, on AWS, CloudFront read this mapping;
switching production or rolling back is one write to it, never a copy of files."""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist
from pynamodb.models import Model

from chalicelib.infra.resources import ROUTES
from chalicelib.models.base import table_meta, utc_now


class Route(Model):
    Meta = table_meta(ROUTES.logical)

    host = UnicodeAttribute(hash_key=True)
    artifact_prefix = UnicodeAttribute()
    deployment_id = NumberAttribute()
    project_id = NumberAttribute()
    updated_at = UnicodeAttribute(default_for_new=utc_now)


class RouteRepository:
    @staticmethod
    def find(host: str) -> Route | None:
        try:
            return Route.get(host, consistent_read=True)
        except DoesNotExist:
            return None
